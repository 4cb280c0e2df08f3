// ApiSource: the three reflectors kube-proxy runs (Services, EndpointSlices, its own Node) with
// upstream's selectors, delivering to the proxier's handlers.
#pragma once

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "apiclient/api_transport.h"
#include "apiclient/reflector.h"
#include "proxier/handlers.h"

namespace kproxy::apiclient {

struct ApiSourceOptions {
  // The Node to watch (metadata.name); empty: no Node reflector.
  std::string node_name;
  ReflectorOptions reflector;
};

class ApiSource {
 public:
  // transport and handlers must outlive the source; a null node_handler disables the Node
  // reflector. Starts nothing.
  static absl::StatusOr<std::unique_ptr<ApiSource>> Create(ApiTransport* transport,
                                                           ApiSourceOptions options,
                                                           proxier::ServiceHandler* services,
                                                           proxier::EndpointSliceHandler* slices,
                                                           proxier::NodeHandler* node);
  ~ApiSource();  // Stop()s

  void Start();
  // Interrupts the watches promptly; no handler call after it returns. Idempotent.
  void Stop();

  // Services and EndpointSlices have been listed once (the proxier may sync then).
  bool WaitForSync(absl::Duration timeout);
  // The Node has been listed once (it may not exist; OnNodeSynced was still called).
  bool WaitForNode(absl::Duration timeout);

  const Reflector& services() const { return *services_; }
  const Reflector& endpoint_slices() const { return *slices_; }
  const Reflector* node() const { return node_.get(); }

  // Upstream kube-proxy's informer selectors (cmd/kube-proxy/app/server.go).
  static constexpr char kServiceLabelSelector[] =
      "!service.kubernetes.io/headless,!service.kubernetes.io/service-proxy-name";
  static constexpr char kEndpointSliceLabelSelector[] = "!service.kubernetes.io/service-proxy-name";

 private:
  class ServiceSink;
  class SliceSink;
  class NodeSink;
  ApiSource() = default;

  std::unique_ptr<ReflectorSink> service_sink_;
  std::unique_ptr<ReflectorSink> slice_sink_;
  std::unique_ptr<ReflectorSink> node_sink_;
  std::unique_ptr<Reflector> services_;
  std::unique_ptr<Reflector> slices_;
  std::unique_ptr<Reflector> node_;
};

}  // namespace kproxy::apiclient
