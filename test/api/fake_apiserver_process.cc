#include "test/api/fake_apiserver_process.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>

#include <simdjson.h>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/strip.h"
#include "logging/json_quote.h"

namespace kproxy::apiclient::testing {

absl::StatusOr<std::unique_ptr<FakeApiserverProcess>> FakeApiserverProcess::Start(
    std::vector<std::string> tokens, double bookmark_interval) {
  std::unique_ptr<FakeApiserverProcess> p(new FakeApiserverProcess());
  char dir[] = "/tmp/kproxy-fake-apiserver-XXXXXX";
  if (mkdtemp(dir) == nullptr) return absl::InternalError("mkdtemp failed");
  p->dir_ = dir;
  int out[2];
  if (pipe2(out, O_CLOEXEC) != 0) return absl::InternalError("pipe failed");
  std::vector<std::string> args = {KPROXY_PYTHON3, KPROXY_FAKE_APISERVER, "--tls-dir", p->dir_,
                                   "--bookmark-interval", absl::StrCat(bookmark_interval)};
  for (const std::string& t : tokens) {
    args.push_back("--token");
    args.push_back(t);
  }
  std::vector<char*> argv;
  for (std::string& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  p->pid_ = fork();
  if (p->pid_ == 0) {
    dup2(out[1], 1);
    execv(argv[0], argv.data());
    _exit(127);
  }
  close(out[1]);
  std::string text;
  const absl::Time deadline = absl::Now() + absl::Seconds(30);  // openssl key generation
  while (text.find('\n') == std::string::npos && absl::Now() < deadline) {
    pollfd pfd{out[0], POLLIN, 0};
    if (poll(&pfd, 1, 200) <= 0) continue;
    char buf[256];
    ssize_t n = read(out[0], buf, sizeof(buf));
    if (n <= 0) break;
    text.append(buf, n);
  }
  close(out[0]);
  absl::string_view line = text;
  if (!absl::ConsumePrefix(&line, "PORT ") ||
      !absl::SimpleAtoi(absl::StripAsciiWhitespace(line), &p->port_)) {
    return absl::InternalError(absl::StrCat("fake apiserver did not start: \"", text, "\""));
  }
  ClientConfig control = p->Config();
  control.qps = 0;
  absl::StatusOr<std::unique_ptr<RestClient>> client = RestClient::Create(control);
  if (!client.ok()) return client.status();
  p->control_ = std::move(*client);
  return p;
}

FakeApiserverProcess::~FakeApiserverProcess() {
  if (pid_ > 0) {
    kill(pid_, SIGTERM);
    int status;
    waitpid(pid_, &status, 0);
  }
  if (!dir_.empty()) std::system(absl::StrCat("rm -rf '", dir_, "'").c_str());
}

std::string FakeApiserverProcess::url() const { return absl::StrCat("https://127.0.0.1:", port_); }

ClientConfig FakeApiserverProcess::Config(const std::string& token) const {
  ClientConfig config;
  config.server = url();
  config.ca_file = dir_ + "/ca.crt";
  config.bearer_token = token;
  config.origin = "fake apiserver";
  return config;
}

absl::Status FakeApiserverProcess::Control(const std::string& path, const std::string& body) {
  absl::StatusOr<HttpResponse> r = control_->Post(path, body, nullptr, absl::Seconds(10));
  if (!r.ok()) return r.status();
  if (r->status != 200) return absl::InternalError(absl::StrCat(path, ": HTTP ", r->status, " ", r->body));
  return absl::OkStatus();
}

absl::Status FakeApiserverProcess::Apply(const std::string& object_json) {
  return Control("/_control/apply", object_json);
}

absl::Status FakeApiserverProcess::Delete(const std::string& kind, const std::string& ns,
                                          const std::string& name) {
  return Control("/_control/delete", absl::StrCat("{\"kind\":", logging::JsonQuote(kind), ",\"namespace\":",
                                                  logging::JsonQuote(ns), ",\"name\":", logging::JsonQuote(name), "}"));
}

absl::Status FakeApiserverProcess::Fault(const std::string& fault_json) {
  return Control("/_control/fault", fault_json);
}

absl::Status FakeApiserverProcess::SetTokens(const std::vector<std::string>& tokens) {
  std::vector<std::string> quoted;
  for (const std::string& t : tokens) quoted.push_back(logging::JsonQuote(t));
  return Control("/_control/tokens", absl::StrCat("{\"tokens\":[", absl::StrJoin(quoted, ","), "]}"));
}

absl::StatusOr<std::vector<RecordedRequest>> FakeApiserverProcess::Requests() {
  absl::StatusOr<HttpResponse> r = control_->Get("/_control/requests", nullptr, absl::Seconds(10));
  if (!r.ok()) return r.status();
  simdjson::dom::parser parser;
  simdjson::dom::element doc;
  if (parser.parse(r->body).get(doc) != simdjson::SUCCESS) return absl::InternalError("bad /_control/requests");
  std::vector<RecordedRequest> out;
  for (simdjson::dom::element e : doc.get_array()) {
    RecordedRequest q;
    q.method = std::string(std::string_view(e["method"]));
    q.path = std::string(std::string_view(e["path"]));
    q.kind = std::string(std::string_view(e["kind"]));
    q.verb = std::string(std::string_view(e["verb"]));
    q.status = static_cast<int>(int64_t(e["status"]));
    q.client_port = static_cast<int>(int64_t(e["client_port"]));
    q.time = double(e["time"]);
    out.push_back(std::move(q));
  }
  return out;
}

absl::StatusOr<std::string> FakeApiserverProcess::EventsJson() {
  absl::StatusOr<HttpResponse> r = control_->Get("/_control/events", nullptr, absl::Seconds(10));
  if (!r.ok()) return r.status();
  return r->body;
}

absl::StatusOr<int> FakeApiserverProcess::ActiveWatches() { return StateField("watches"); }

absl::StatusOr<int> FakeApiserverProcess::PendingFaults() { return StateField("faults"); }

absl::StatusOr<int> FakeApiserverProcess::StateField(const char* field) {
  absl::StatusOr<HttpResponse> r = control_->Get("/_control/state", nullptr, absl::Seconds(10));
  if (!r.ok()) return r.status();
  simdjson::dom::parser parser;
  simdjson::dom::element doc;
  if (parser.parse(r->body).get(doc) != simdjson::SUCCESS) return absl::InternalError("bad /_control/state");
  return static_cast<int>(int64_t(doc[field]));
}

}  // namespace kproxy::apiclient::testing
