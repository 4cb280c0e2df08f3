// fuzz-libs: kproxy_backends_iptables
// Feeds arbitrary text to the iptables-save parser and the rule splitters (another agent may have
// written anything into the tables we read back): never crash, leak or hang.
#include <cstddef>
#include <cstdint>

#include "absl/strings/string_view.h"
#include "backends/iptables/iptables_save.h"

namespace ipt = kproxy::backends::iptables;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  absl::string_view text(reinterpret_cast<const char*>(data), size);
  auto tables = ipt::ParseIptablesSave(text);
  size_t n = 0;
  for (const auto& [name, table] : tables) {
    for (const auto& chain : table.chains) {
      if (table.Find(chain.name) == nullptr) __builtin_trap();  // every saved chain is findable
      for (const auto& rule : chain.rules) {
        n += ipt::SplitRuleArgs(rule).size();
        n += ipt::RuleTarget(rule).size();
      }
    }
  }
  // The splitters also see lines that the table parser would skip.
  n += ipt::SplitRuleArgs(text).size() + ipt::RuleTarget(text).size();
  volatile size_t sink = n;
  (void)sink;
  return 0;
}
