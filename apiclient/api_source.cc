#include "apiclient/api_source.h"

#include <variant>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"

namespace kproxy::apiclient {

class ApiSource::ServiceSink final : public ReflectorSink {
 public:
  explicit ServiceSink(proxier::ServiceHandler* h) : h_(h) {}
  void OnAdd(const DecodedObject& o) override { h_->OnServiceAdd(std::get<proxier::Service>(o.object)); }
  void OnUpdate(const DecodedObject& old_o, const DecodedObject& o) override {
    h_->OnServiceUpdate(std::get<proxier::Service>(old_o.object), std::get<proxier::Service>(o.object));
  }
  void OnDelete(const DecodedObject& o) override { h_->OnServiceDelete(std::get<proxier::Service>(o.object)); }
  void OnSynced() override { h_->OnServicesSynced(); }

 private:
  proxier::ServiceHandler* h_;
};

class ApiSource::SliceSink final : public ReflectorSink {
 public:
  explicit SliceSink(proxier::EndpointSliceHandler* h) : h_(h) {}
  void OnAdd(const DecodedObject& o) override {
    h_->OnEndpointSliceAdd(std::get<proxier::EndpointSlice>(o.object));
  }
  void OnUpdate(const DecodedObject& old_o, const DecodedObject& o) override {
    h_->OnEndpointSliceUpdate(std::get<proxier::EndpointSlice>(old_o.object),
                              std::get<proxier::EndpointSlice>(o.object));
  }
  void OnDelete(const DecodedObject& o) override {
    h_->OnEndpointSliceDelete(std::get<proxier::EndpointSlice>(o.object));
  }
  void OnSynced() override { h_->OnEndpointSlicesSynced(); }

 private:
  proxier::EndpointSliceHandler* h_;
};

class ApiSource::NodeSink final : public ReflectorSink {
 public:
  explicit NodeSink(proxier::NodeHandler* h) : h_(h) {}
  void OnAdd(const DecodedObject& o) override { h_->OnNodeAdd(std::get<proxier::Node>(o.object)); }
  void OnUpdate(const DecodedObject& old_o, const DecodedObject& o) override {
    h_->OnNodeUpdate(std::get<proxier::Node>(old_o.object), std::get<proxier::Node>(o.object));
  }
  void OnDelete(const DecodedObject& o) override { h_->OnNodeDelete(std::get<proxier::Node>(o.object)); }
  void OnSynced() override { h_->OnNodeSynced(); }

 private:
  proxier::NodeHandler* h_;
};

absl::StatusOr<std::unique_ptr<ApiSource>> ApiSource::Create(ApiTransport* transport,
                                                             ApiSourceOptions options,
                                                             proxier::ServiceHandler* services,
                                                             proxier::EndpointSliceHandler* slices,
                                                             proxier::NodeHandler* node) {
  if (transport == nullptr || services == nullptr || slices == nullptr) {
    return absl::InvalidArgumentError("ApiSource: transport, Service and EndpointSlice handlers are required");
  }
  std::unique_ptr<ApiSource> source(new ApiSource());
  source->service_sink_ = std::make_unique<ServiceSink>(services);
  source->slice_sink_ = std::make_unique<SliceSink>(slices);
  source->services_ = std::make_unique<Reflector>(
      transport, ResourceSpec{"Service", "/api/v1/services", kServiceLabelSelector, ""},
      source->service_sink_.get(), options.reflector);
  source->slices_ = std::make_unique<Reflector>(
      transport,
      ResourceSpec{"EndpointSlice", "/apis/discovery.k8s.io/v1/endpointslices", kEndpointSliceLabelSelector, ""},
      source->slice_sink_.get(), options.reflector);
  if (node != nullptr && !options.node_name.empty()) {
    source->node_sink_ = std::make_unique<NodeSink>(node);
    source->node_ = std::make_unique<Reflector>(
        transport, ResourceSpec{"Node", "/api/v1/nodes", "", absl::StrCat("metadata.name=", options.node_name)},
        source->node_sink_.get(), options.reflector);
  }
  return source;
}

ApiSource::~ApiSource() { Stop(); }

void ApiSource::Start() {
  services_->Start();
  slices_->Start();
  if (node_) node_->Start();
}

void ApiSource::Stop() {
  // Each Stop() interrupts its watch at once, so doing them in turn stays prompt.
  if (node_) node_->Stop();
  slices_->Stop();
  services_->Stop();
}

bool ApiSource::WaitForSync(absl::Duration timeout) {
  const absl::Time deadline = absl::Now() + timeout;
  return services_->WaitForSync(timeout) && slices_->WaitForSync(deadline - absl::Now());
}

bool ApiSource::WaitForNode(absl::Duration timeout) {
  return node_ == nullptr || node_->WaitForSync(timeout);
}

}  // namespace kproxy::apiclient
