// Field-by-field equality of decoded API objects, so sources can drop no-op updates (an unchanged
// object must produce no handler call). The model structs deliberately define no operator==.
#pragma once

#include <cstdint>

#include "proxier/api_types.h"

namespace kproxy::apiclient {

bool ObjectsEqual(const proxier::ObjectMeta& a, const proxier::ObjectMeta& b);
bool ObjectsEqual(const proxier::Service& a, const proxier::Service& b);
bool ObjectsEqual(const proxier::EndpointSlice& a, const proxier::EndpointSlice& b);
bool ObjectsEqual(const proxier::Node& a, const proxier::Node& b);

// A 64-bit digest of every field ObjectsEqual compares: sources keep it instead of a slice's
// endpoints (most of the memory decoded objects hold) and still drop no-op updates.
uint64_t ContentFingerprint(const proxier::EndpointSlice& slice);
// The slice without its endpoints: what handlers need of a previous version (its identity and
// Service) in OnEndpointSliceUpdate/OnEndpointSliceDelete.
proxier::EndpointSlice IdentityOnly(const proxier::EndpointSlice& slice);

}  // namespace kproxy::apiclient
