// RestClient::Stream against a tiny in-process HTTP server: a line that never ends is cut off at
// the cap and reported as a broken stream instead of growing memory without bound.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <string>
#include <thread>

#include "absl/strings/str_cat.h"
#include "apiclient/rest_client.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace kproxy::apiclient {
namespace {

using ::testing::HasSubstr;

// Serves one connection: reads the request head, answers 200 with a chunked body made of
// `body_chunks` repetitions of `chunk`, then holds the connection open until the client leaves.
class OneShotChunkedServer {
 public:
  OneShotChunkedServer(std::string chunk, int body_chunks)
      : chunk_(std::move(chunk)), body_chunks_(body_chunks) {
    listen_fd_ = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    bind(listen_fd_, reinterpret_cast<sockaddr*>(&addr), sizeof(addr));
    listen(listen_fd_, 1);
    socklen_t len = sizeof(addr);
    getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&addr), &len);
    port_ = ntohs(addr.sin_port);
    thread_ = std::thread([this] { Serve(); });
  }
  ~OneShotChunkedServer() {
    shutdown(listen_fd_, SHUT_RDWR);
    thread_.join();
    close(listen_fd_);
  }
  std::string url() const { return absl::StrCat("http://127.0.0.1:", port_); }

 private:
  void Serve() {
    int fd = accept(listen_fd_, nullptr, nullptr);
    if (fd < 0) return;
    std::string head;
    char buf[4096];
    while (head.find("\r\n\r\n") == std::string::npos) {
      ssize_t n = read(fd, buf, sizeof(buf));
      if (n <= 0) break;
      head.append(buf, n);
    }
    std::string out =
        "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n";
    bool ok = WriteAll(fd, out);
    const std::string framed = absl::StrCat(absl::Hex(chunk_.size()), "\r\n", chunk_, "\r\n");
    for (int i = 0; ok && i < body_chunks_; ++i) ok = WriteAll(fd, framed);
    // Hold the stream open (a server that never sends the newline): wait for the client to go.
    while (read(fd, buf, sizeof(buf)) > 0) {
    }
    close(fd);
  }
  static bool WriteAll(int fd, const std::string& data) {
    size_t done = 0;
    while (done < data.size()) {
      ssize_t n = send(fd, data.data() + done, data.size() - done, MSG_NOSIGNAL);
      if (n <= 0) return false;
      done += n;
    }
    return true;
  }

  const std::string chunk_;
  const int body_chunks_;
  int listen_fd_ = -1;
  int port_ = 0;
  std::thread thread_;
};

std::unique_ptr<RestClient> ClientFor(const std::string& url, size_t max_line) {
  ClientConfig config;
  config.server = url;
  config.qps = 0;
  RestClientOptions options;
  options.max_stream_line_bytes = max_line;
  absl::StatusOr<std::unique_ptr<RestClient>> client = RestClient::Create(config, options);
  EXPECT_TRUE(client.ok()) << client.status();
  return client.ok() ? *std::move(client) : nullptr;
}

TEST(RestClientStreamTest, DefaultLineCapIsSixteenMebibytes) {
  EXPECT_EQ(RestClientOptions{}.max_stream_line_bytes, size_t{16} << 20);
}

TEST(RestClientStreamTest, LineThatNeverEndsPastTheCapBreaksTheStream) {
  // 256 chunks of 4 KiB, no newline anywhere, then the server just holds the connection.
  OneShotChunkedServer server(std::string(4096, 'x'), 256);
  std::unique_ptr<RestClient> client = ClientFor(server.url(), 64 * 1024);
  ASSERT_NE(client, nullptr);
  std::atomic<int> lines{0};
  absl::StatusOr<HttpResponse> r = client->Stream(
      "/api/v1/services?watch=true",
      [&lines](absl::string_view) {
        ++lines;
        return true;
      },
      nullptr, absl::Seconds(30));
  ASSERT_FALSE(r.ok()) << "the stream must not be read forever";
  EXPECT_TRUE(absl::IsResourceExhausted(r.status())) << r.status();
  EXPECT_THAT(std::string(r.status().message()), HasSubstr("65536 bytes"));
  EXPECT_EQ(lines.load(), 0);
}

TEST(RestClientStreamTest, LinesUnderTheCapAreDelivered) {
  // Lines of 1000 bytes each (999 + '\n') in chunks that split them anywhere.
  std::string body;
  for (int i = 0; i < 8; ++i) absl::StrAppend(&body, std::string(999, 'a' + i), "\n");
  OneShotChunkedServer server(body, 1);
  std::unique_ptr<RestClient> client = ClientFor(server.url(), 1000);
  ASSERT_NE(client, nullptr);
  int lines = 0;
  absl::StatusOr<HttpResponse> r = client->Stream(
      "/api/v1/services?watch=true",
      [&lines](absl::string_view line) {
        EXPECT_EQ(line.size(), 999u);
        return ++lines < 8;  // stop after the last one (the server holds the stream open)
      },
      nullptr, absl::Seconds(30));
  EXPECT_EQ(lines, 8);
  EXPECT_TRUE(absl::IsAborted(r.status())) << r.status();
}

}  // namespace
}  // namespace kproxy::apiclient
