#include "proxier/service_port.h"

#include "absl/strings/str_cat.h"

namespace kproxy::proxier {

std::string ServicePortName::ToString() const {
  if (port_name.empty()) return service.ToString();
  return absl::StrCat(service.namespace_name, "/", service.name, ":", port_name);
}

}  // namespace kproxy::proxier
