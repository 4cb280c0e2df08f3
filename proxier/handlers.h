// Handler interfaces through which object sources (apiclient's watch and file source) deliver
// Services, EndpointSlices and the Node to the proxier. Calls for one kind arrive in order.
#pragma once

#include "proxier/api_types.h"

namespace kproxy::proxier {

class ServiceHandler {
 public:
  virtual ~ServiceHandler() = default;
  virtual void OnServiceAdd(const Service& service) = 0;
  virtual void OnServiceUpdate(const Service& old_service, const Service& service) = 0;
  virtual void OnServiceDelete(const Service& service) = 0;
  // Every Service that existed at start has been delivered.
  virtual void OnServicesSynced() = 0;
};

class EndpointSliceHandler {
 public:
  virtual ~EndpointSliceHandler() = default;
  virtual void OnEndpointSliceAdd(const EndpointSlice& slice) = 0;
  virtual void OnEndpointSliceUpdate(const EndpointSlice& old_slice, const EndpointSlice& slice) = 0;
  virtual void OnEndpointSliceDelete(const EndpointSlice& slice) = 0;
  virtual void OnEndpointSlicesSynced() = 0;
};

class NodeHandler {
 public:
  virtual ~NodeHandler() = default;
  virtual void OnNodeAdd(const Node& node) = 0;
  virtual void OnNodeUpdate(const Node& old_node, const Node& node) = 0;
  virtual void OnNodeDelete(const Node& node) = 0;
  virtual void OnNodeSynced() = 0;
};

}  // namespace kproxy::proxier
