// FakeApiserverProcess: runs test/api/fake_apiserver.py on 127.0.0.1 (HTTPS, a fresh CA in a temp
// dir) for one test, and drives its control API (objects, faults, tokens, request log).
#pragma once

#include <sys/types.h>

#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "apiclient/kubeconfig.h"
#include "apiclient/rest_client.h"

namespace kproxy::apiclient::testing {

struct RecordedRequest {
  std::string method;
  std::string path;
  std::string kind;
  std::string verb;
  int status = 0;
  double time = 0;
  int client_port = 0;  // the client's TCP port: one per connection
};

class FakeApiserverProcess {
 public:
  // Starts the server with these accepted bearer tokens; fails the test on error.
  static absl::StatusOr<std::unique_ptr<FakeApiserverProcess>> Start(std::vector<std::string> tokens,
                                                                     double bookmark_interval = 0.5);
  ~FakeApiserverProcess();

  int port() const { return port_; }
  const std::string& dir() const { return dir_; }  // ca.crt, client.crt, client.key live here
  std::string url() const;
  // A client configuration trusting the server's CA, with this token (may be empty).
  ClientConfig Config(const std::string& token = "") const;

  absl::Status Apply(const std::string& object_json);
  absl::Status Delete(const std::string& kind, const std::string& ns, const std::string& name);
  absl::Status Fault(const std::string& fault_json);
  absl::Status SetTokens(const std::vector<std::string>& tokens);
  absl::StatusOr<std::vector<RecordedRequest>> Requests();
  absl::StatusOr<std::string> EventsJson();
  absl::StatusOr<int> ActiveWatches();
  absl::StatusOr<int> PendingFaults();  // injected faults not yet consumed

 private:
  FakeApiserverProcess() = default;
  absl::Status Control(const std::string& path, const std::string& body);
  absl::StatusOr<int> StateField(const char* field);

  pid_t pid_ = -1;
  int port_ = 0;
  std::string dir_;
  std::unique_ptr<RestClient> control_;
};

}  // namespace kproxy::apiclient::testing
