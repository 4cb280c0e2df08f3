#include "backends/iptables/iptables_runner.h"

namespace kproxy::backends::iptables {

absl::string_view TableName(Table table) {
  switch (table) {
    case Table::kFilter: return "filter";
    case Table::kNat: return "nat";
    case Table::kMangle: return "mangle";
  }
  return "filter";
}

}  // namespace kproxy::backends::iptables
