// Field-by-field equality of decoded API objects, so sources can drop no-op updates (an unchanged
// object must produce no handler call). The model structs deliberately define no operator==.
#pragma once

#include "proxier/api_types.h"

namespace kproxy::apiclient {

bool ObjectsEqual(const proxier::ObjectMeta& a, const proxier::ObjectMeta& b);
bool ObjectsEqual(const proxier::Service& a, const proxier::Service& b);
bool ObjectsEqual(const proxier::EndpointSlice& a, const proxier::EndpointSlice& b);
bool ObjectsEqual(const proxier::Node& a, const proxier::Node& b);

}  // namespace kproxy::apiclient
