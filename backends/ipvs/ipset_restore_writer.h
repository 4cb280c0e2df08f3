// IpsetRestoreWriter: the real IpsetWriter — reads `ipset save` and feeds the differences to
// `ipset restore -exist` in one exec (argument vectors, never a shell).
#pragma once

#include <map>
#include <string>
#include <vector>

#include "absl/container/btree_set.h"
#include "absl/status/statusor.h"
#include "backends/ipvs/ipset_writer.h"

namespace kproxy::backends::ipvs {

// Sets as `ipset save` lists them: name -> entries.
using IpsetContents = std::map<std::string, absl::btree_set<std::string>>;

// Parses `ipset save` output ("create NAME ..." / "add NAME ENTRY ...").
IpsetContents ParseIpsetSave(absl::string_view text);

// The `ipset restore -exist` input that turns `current` into `desired`: create lines for missing
// sets, then del/add lines for the differences. Empty when nothing changes. Pure.
std::string RenderIpsetRestore(const std::vector<IpsetSpec>& desired, const IpsetContents& current);

// The create line for a set, with upstream's options ("create KUBE-CLUSTER-IP hash:ip,port family
// inet hashsize 1024 maxelem 65536 comment").
std::string IpsetCreateLine(const IpsetSpec& set);

class IpsetRestoreWriter final : public IpsetWriter {
 public:
  explicit IpsetRestoreWriter(std::string ipset_binary = "ipset") : binary_(std::move(ipset_binary)) {}
  absl::Status Sync(const std::vector<IpsetSpec>& sets) override;
  absl::Status DestroySets(absl::string_view prefix) override;

 private:
  absl::StatusOr<std::string> Run(const std::vector<std::string>& args, absl::string_view input);
  std::string binary_;
};

}  // namespace kproxy::backends::ipvs
