// IptablesPlan: the complete desired filter and nat tables of one IP family, kept as per-ServicePort
// fragments plus the top-level chains assembled from them, so a later plan can reuse unchanged
// fragments and a renderer can write only chains whose content changed.
#pragma once

#include <cstdint>
#include <iterator>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/container/btree_map.h"
#include "absl/strings/string_view.h"
#include "proxier/node_context.h"
#include "proxier/service_port.h"

namespace kproxy::proxier::iptables {

// One chain: its name and its rules as iptables-restore lines ("-A NAME ...\n"), in order.
struct PlannedChain {
  std::string name;
  std::string rules;
  friend bool operator==(const PlannedChain&, const PlannedChain&) = default;
};

// Top-level chains, each shared (not copied) between consecutive plans while its content is
// unchanged: KUBE-SERVICES alone is megabytes at 10k Services. Iterates as `const PlannedChain&`.
class SharedChainList {
 public:
  using Pointer = std::shared_ptr<const PlannedChain>;
  class const_iterator {
   public:
    using iterator_category = std::forward_iterator_tag;
    using value_type = PlannedChain;
    using difference_type = std::ptrdiff_t;
    using pointer = const PlannedChain*;
    using reference = const PlannedChain&;
    const_iterator() = default;
    explicit const_iterator(std::vector<Pointer>::const_iterator it) : it_(it) {}
    reference operator*() const { return **it_; }
    pointer operator->() const { return it_->get(); }
    const_iterator& operator++() {
      ++it_;
      return *this;
    }
    const_iterator operator++(int) { return const_iterator(it_++); }
    friend bool operator==(const const_iterator&, const const_iterator&) = default;

   private:
    std::vector<Pointer>::const_iterator it_;
  };

  void push_back(PlannedChain chain) { chains_.push_back(std::make_shared<const PlannedChain>(std::move(chain))); }
  void push_back(Pointer chain) { chains_.push_back(std::move(chain)); }
  size_t size() const { return chains_.size(); }
  bool empty() const { return chains_.empty(); }
  const PlannedChain& operator[](size_t i) const { return *chains_[i]; }
  const Pointer& shared(size_t i) const { return chains_[i]; }
  const_iterator begin() const { return const_iterator(chains_.begin()); }
  const_iterator end() const { return const_iterator(chains_.end()); }

 private:
  std::vector<Pointer> chains_;
};

// One chain of a fragment, viewing the fragment's text.
struct ChainView {
  absl::string_view name;
  absl::string_view rules;
};

// A ServicePort's own chains (SVC/SVL/EXT/FW/SEP), names and rules back to back in one buffer:
// two allocations per ServicePort instead of two per chain (130k chains at 10k Services, whose
// allocation and freeing was a quarter of a full plan). Iterates as ChainView values.
class FragmentChains {
 public:
  class const_iterator {
   public:
    using iterator_category = std::forward_iterator_tag;
    using value_type = ChainView;
    using difference_type = std::ptrdiff_t;
    using pointer = void;
    using reference = ChainView;
    const_iterator() = default;
    ChainView operator*() const { return (*chains_)[i_]; }
    const_iterator& operator++() {
      ++i_;
      return *this;
    }
    const_iterator operator++(int) {
      const_iterator old = *this;
      ++i_;
      return old;
    }
    friend bool operator==(const const_iterator& a, const const_iterator& b) { return a.i_ == b.i_; }

   private:
    friend class FragmentChains;
    const_iterator(const FragmentChains* chains, size_t i) : chains_(chains), i_(i) {}
    const FragmentChains* chains_ = nullptr;
    size_t i_ = 0;
  };

  // Starts chain `name`; its rules are appended to the returned buffer until End(). Views of
  // earlier chains may be invalidated meanwhile: keep names being written elsewhere.
  std::string& Begin(absl::string_view name) {
    spans_.push_back({static_cast<uint32_t>(text_.size()), static_cast<uint32_t>(name.size()), 0, 0});
    text_.append(name.data(), name.size());
    spans_.back().rules_offset = static_cast<uint32_t>(text_.size());
    return text_;
  }
  void End() { spans_.back().rules_size = static_cast<uint32_t>(text_.size() - spans_.back().rules_offset); }
  void Reserve(size_t chains, size_t bytes) {
    spans_.reserve(chains);
    text_.reserve(bytes);
  }
  // Gives back the estimate's slack once everything is written.
  void Trim() {
    if (text_.capacity() > text_.size() + text_.size() / 4 + 64) text_.shrink_to_fit();
    if (spans_.capacity() > spans_.size()) spans_.shrink_to_fit();
  }

  size_t size() const { return spans_.size(); }
  bool empty() const { return spans_.empty(); }
  ChainView operator[](size_t i) const {
    const Span& span = spans_[i];
    const absl::string_view text(text_);
    return {text.substr(span.name_offset, span.name_size), text.substr(span.rules_offset, span.rules_size)};
  }
  const_iterator begin() const { return const_iterator(this, 0); }
  const_iterator end() const { return const_iterator(this, spans_.size()); }

 private:
  // 32-bit offsets: one ServicePort's chains are far below 4 GiB, and 130k chains at 10k Services
  // make the width count.
  struct Span {
    uint32_t name_offset, name_size, rules_offset, rules_size;
  };
  std::string text_;
  std::vector<Span> spans_;
};

// Everything one ServicePort contributes: its own nat chains (SVC/SVL/EXT/FW/SEP) and its lines in
// the shared top-level chains.
struct ServicePortFragment {
  FragmentChains nat_chains;
  std::string nat_services;              // nat KUBE-SERVICES
  std::string nat_nodeports;             // nat KUBE-NODEPORTS
  std::string filter_services;           // filter KUBE-SERVICES (no endpoints)
  std::string filter_external_services;  // filter KUBE-EXTERNAL-SERVICES
  std::string filter_nodeports;          // filter KUBE-NODEPORTS (health-check node port)
  std::string filter_proxy_firewall;     // filter KUBE-PROXY-FIREWALL
  std::string port_proto_hash;  // shared by the SVC/SVL/EXT/FW names
  // Endpoints the snapshot listed for this ServicePort (all of them, not only the selected ones):
  // keeps the plan's total (large-cluster mode) up to date without walking every ServicePort.
  size_t endpoint_count = 0;
  // Endpoints exist in the cluster but none on this node for a Local traffic policy (upstream's
  // kubeproxy_sync_proxy_rules_no_local_endpoints_total counts these ServicePorts).
  bool no_local_internal_endpoints = false;
  bool no_local_external_endpoints = false;
};

// Fragments by ServicePortName, in order. Consecutive entries are grouped in chunks shared between
// the plans that have them unchanged, so deriving a plan from the previous one copies a few hundred
// chunk pointers instead of every entry (which touched every fragment's reference count: most of a
// one-endpoint partial sync at 30k Services). Chunks are copied on write unless owned alone.
class FragmentMap {
 public:
  using key_type = ServicePortName;
  using mapped_type = std::shared_ptr<const ServicePortFragment>;
  using value_type = std::pair<ServicePortName, mapped_type>;

  class const_iterator {
   public:
    using iterator_category = std::forward_iterator_tag;
    using value_type = FragmentMap::value_type;
    using difference_type = std::ptrdiff_t;
    using pointer = const value_type*;
    using reference = const value_type&;
    const_iterator() = default;
    reference operator*() const { return (*map_->chunks_[chunk_])[entry_]; }
    pointer operator->() const { return &**this; }
    const_iterator& operator++() {
      if (++entry_ == map_->chunks_[chunk_]->size()) {
        ++chunk_;
        entry_ = 0;
      }
      return *this;
    }
    const_iterator operator++(int) {
      const_iterator old = *this;
      ++*this;
      return old;
    }
    friend bool operator==(const const_iterator& a, const const_iterator& b) {
      return a.chunk_ == b.chunk_ && a.entry_ == b.entry_;
    }

   private:
    friend class FragmentMap;
    const_iterator(const FragmentMap* map, size_t chunk, size_t entry) : map_(map), chunk_(chunk), entry_(entry) {}
    const FragmentMap* map_ = nullptr;
    size_t chunk_ = 0;
    size_t entry_ = 0;
  };
  using iterator = const_iterator;

  const_iterator begin() const { return const_iterator(this, 0, 0); }
  const_iterator end() const { return const_iterator(this, chunks_.size(), 0); }
  size_t size() const { return size_; }
  bool empty() const { return size_ == 0; }

  // First entry whose key is not less than `key`.
  const_iterator lower_bound(const ServicePortName& key) const;
  const_iterator find(const ServicePortName& key) const;
  const mapped_type& at(const ServicePortName& key) const;  // the key must be present

  // Appends; `key` must be greater than every key present (the hint is for btree_map parity).
  const_iterator emplace_hint(const_iterator hint, const ServicePortName& key, mapped_type fragment);
  void insert_or_assign(const ServicePortName& key, mapped_type fragment);
  size_t erase(const ServicePortName& key);

 private:
  using Chunk = std::vector<value_type>;
  static constexpr size_t kChunkSize = 64;
  // The chunk holding `key` or where it belongs (chunks_.size() when after every key).
  size_t ChunkFor(const ServicePortName& key) const;
  // Chunk `i`, copied first unless this map is its only owner.
  Chunk& Writable(size_t i);

  std::vector<std::shared_ptr<Chunk>> chunks_;  // never empty chunks
  size_t size_ = 0;
};

struct IptablesPlan {
  IpFamily family = IpFamily::kIPv4;
  bool large_cluster_mode = false;
  NodeContext node;  // the node context planned for; a different one invalidates every fragment
  // Unless --nodeport-addresses matches every address: the node's addresses it selected for this
  // plan, each the destination of one jump to KUBE-NODEPORTS (none selected: no jump at all).
  std::vector<IpAddress> node_port_ips;
  FragmentMap fragments;
  // Top-level chains, in the order they are written.
  SharedChainList filter_chains;
  SharedChainList nat_chains;
  // Endpoints of every ServicePort, as the snapshot listed them.
  size_t total_endpoints = 0;
  // ServicePorts whose fragment has no_local_internal_endpoints / no_local_external_endpoints,
  // kept up to date incrementally like total_endpoints.
  size_t no_local_internal_endpoints = 0;
  size_t no_local_external_endpoints = 0;

  // Identity of this plan, and of the plan it was derived from (0: built from scratch). A plan
  // derived from `base` shares every fragment with it except those named in `rebuilt` (sorted,
  // unique; includes ServicePorts that were added or removed), so a renderer comparing against
  // `base` needs to look at those only.
  uint64_t id = 0;
  uint64_t base_id = 0;
  std::vector<ServicePortName> rebuilt;

  // Number of chains (top-level and per-ServicePort) of the nat table.
  size_t NatChainCount() const;
};

}  // namespace kproxy::proxier::iptables
