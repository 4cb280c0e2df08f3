#include "test/unit/health/http_test_client.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <cstring>

#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"

namespace kproxy::daemon::testing {

std::string RawHttpResponse::Header(absl::string_view name) const {
  for (const auto& [key, value] : headers) {
    if (absl::EqualsIgnoreCase(key, name)) return value;
  }
  return "";
}

int RawHttpResponse::HeaderCount(absl::string_view name) const {
  int n = 0;
  for (const auto& [key, value] : headers) n += absl::EqualsIgnoreCase(key, name) ? 1 : 0;
  return n;
}

absl::StatusOr<RawHttpResponse> HttpGet(absl::string_view host, int port, absl::string_view path,
                                        absl::string_view method) {
  sockaddr_storage ss{};
  socklen_t len;
  std::string h(host);
  auto* sin = reinterpret_cast<sockaddr_in*>(&ss);
  auto* sin6 = reinterpret_cast<sockaddr_in6*>(&ss);
  if (inet_pton(AF_INET, h.c_str(), &sin->sin_addr) == 1) {
    sin->sin_family = AF_INET;
    sin->sin_port = htons(port);
    len = sizeof(*sin);
  } else if (inet_pton(AF_INET6, h.c_str(), &sin6->sin6_addr) == 1) {
    sin6->sin6_family = AF_INET6;
    sin6->sin6_port = htons(port);
    len = sizeof(*sin6);
  } else {
    return absl::InvalidArgumentError(absl::StrCat("bad host ", host));
  }
  int fd = socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return absl::ErrnoToStatus(errno, "socket");
  timeval tv{10, 0};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
  setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
  if (connect(fd, reinterpret_cast<sockaddr*>(&ss), len) != 0) {
    int err = errno;
    close(fd);
    return absl::UnavailableError(absl::StrCat("connect ", host, ":", port, ": ", std::strerror(err)));
  }
  std::string request = absl::StrCat(method, " ", path, " HTTP/1.1\r\nHost: ", host, ":", port,
                                     "\r\nUser-Agent: kproxy-test\r\nConnection: close\r\n\r\n");
  if (send(fd, request.data(), request.size(), MSG_NOSIGNAL) != static_cast<ssize_t>(request.size())) {
    close(fd);
    return absl::UnavailableError("send failed");
  }
  std::string raw;
  char buf[65536];
  while (true) {
    ssize_t n = recv(fd, buf, sizeof(buf), 0);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      int err = errno;
      close(fd);
      return absl::UnavailableError(absl::StrCat("recv: ", std::strerror(err)));
    }
    if (n == 0) break;
    raw.append(buf, n);
  }
  close(fd);
  size_t header_end = raw.find("\r\n\r\n");
  if (header_end == std::string::npos) return absl::DataLossError(absl::StrCat("no header end in: ", raw));
  std::vector<std::string> lines = absl::StrSplit(raw.substr(0, header_end), "\r\n");
  RawHttpResponse resp;
  std::vector<std::string> status_line = absl::StrSplit(lines[0], absl::MaxSplits(' ', 2));
  if (status_line.size() < 2 || !absl::SimpleAtoi(status_line[1], &resp.status)) {
    return absl::DataLossError(absl::StrCat("bad status line: ", lines[0]));
  }
  for (size_t i = 1; i < lines.size(); ++i) {
    size_t colon = lines[i].find(':');
    if (colon == std::string::npos) return absl::DataLossError(absl::StrCat("bad header: ", lines[i]));
    resp.headers.emplace_back(lines[i].substr(0, colon),
                              std::string(absl::StripAsciiWhitespace(lines[i].substr(colon + 1))));
  }
  resp.body = raw.substr(header_end + 4);
  int content_length = 0;
  if (absl::SimpleAtoi(resp.Header("Content-Length"), &content_length) && method != "HEAD" &&
      static_cast<int>(resp.body.size()) != content_length) {
    return absl::DataLossError(absl::StrCat("body of ", resp.body.size(), " bytes, Content-Length ", content_length));
  }
  return resp;
}

}  // namespace kproxy::daemon::testing
