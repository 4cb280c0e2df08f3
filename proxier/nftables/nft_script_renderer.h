// RenderNftScript: an NftRuleset as `nft -f` input (the `nft list table` layout: one table block
// with its sets, maps, elements and chains), for --dry-run and tests. Pure.
#pragma once

#include <string>

#include "proxier/nftables/nft_ruleset.h"

namespace kproxy::proxier::nftables {

// The whole table as one block; `nft -f` loads it into an empty or missing table as is. Sets and
// maps come before chains, so every reference is declared before it is used.
std::string RenderNftScript(const NftRuleset& ruleset);

// The parts of one declaration/element/rule, shared with the diff's dry-run printing:
// "type ... ; flags ... ; timeout ...s ;", "10.96.0.10 . tcp . 80 comment \"x\" : goto y" and
// "<statement> [comment \"...\"]".
std::string RenderSetDeclaration(const NftSet& set);
std::string RenderElement(const NftElement& element);
std::string RenderRule(const NftRule& rule);

}  // namespace kproxy::proxier::nftables
