#include "proxier/nftables/nft_script_renderer.h"

#include <cstdint>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

namespace kproxy::proxier::nftables {
namespace {

bool IsMap(const NftSet& set) { return !set.value_types.empty(); }

void AppendQuoted(std::string& out, const std::string& text) {
  out += '"';
  out += text;
  out += '"';
}

void AppendElementList(std::string& out, const std::vector<NftElement>& elements,
                       absl::string_view indent) {
  out += "{ ";
  bool first = true;
  for (const NftElement& element : elements) {
    if (!first) absl::StrAppend(&out, ",\n", indent);
    first = false;
    out += RenderElement(element);
  }
  out += " }";
}

}  // namespace

namespace {

// The items of a set's declaration, in `nft list` order: type, flags, timeout, comment.
std::vector<std::string> DeclarationItems(const NftSet& set) {
  std::vector<std::string> items;
  std::string type =
      absl::StrCat(set.use_typeof ? "typeof " : "type ", absl::StrJoin(set.key_types, " . "));
  if (IsMap(set)) absl::StrAppend(&type, " : ", absl::StrJoin(set.value_types, " . "));
  items.push_back(std::move(type));
  if (set.interval && set.timeout) {
    items.push_back("flags interval,dynamic,timeout");
  } else if (set.interval) {
    items.push_back("flags interval");
  } else if (set.timeout) {
    items.push_back("flags dynamic,timeout");
  }
  if (set.default_timeout > absl::ZeroDuration()) {
    items.push_back(absl::StrCat("timeout ", absl::ToInt64Seconds(set.default_timeout), "s"));
  }
  if (!set.comment.empty()) items.push_back(absl::StrCat("comment \"", set.comment, "\""));
  return items;
}

}  // namespace

std::string RenderSetDeclaration(const NftSet& set) {
  return absl::StrCat(absl::StrJoin(DeclarationItems(set), " ; "), " ;");
}

std::string RenderElement(const NftElement& element) {
  std::string out = absl::StrJoin(element.key, " . ");
  if (!element.comment.empty()) {
    out += " comment ";
    AppendQuoted(out, element.comment);
  }
  if (!element.value.empty()) absl::StrAppend(&out, " : ", absl::StrJoin(element.value, " . "));
  return out;
}

std::string RenderRule(const NftRule& rule) {
  if (rule.comment.empty()) return rule.statement;
  std::string out = rule.statement;
  out += " comment ";
  AppendQuoted(out, rule.comment);
  return out;
}

std::string RenderNftScript(const NftRuleset& ruleset) {
  std::string out;
  absl::StrAppend(&out, "table ", FamilyName(ruleset.family), " ", kTableName, " {\n");
  if (!ruleset.comment.empty()) {
    out += "\tcomment ";
    AppendQuoted(out, ruleset.comment);
    out += "\n";
  }
  for (const NftSet& set : ruleset.sets) {
    absl::StrAppend(&out, "\n\t", IsMap(set) ? "map " : "set ", set.name, " {\n");
    // One declaration item per line, as `nft list` prints them.
    for (const std::string& item : DeclarationItems(set)) absl::StrAppend(&out, "\t\t", item, "\n");
    auto elements = ruleset.elements.find(set.name);
    if (elements != ruleset.elements.end() && !elements->second.empty()) {
      out += "\t\telements = ";
      AppendElementList(out, elements->second, "\t\t\t     ");
      out += "\n";
    }
    out += "\t}\n";
  }
  for (const NftChain& chain : ruleset.chains) {
    absl::StrAppend(&out, "\n\tchain ", chain.name, " {\n");
    if (chain.base) {
      absl::StrAppend(&out, "\t\ttype ", chain.base->type, " hook ", chain.base->hook, " priority ",
                      chain.base->priority, "; policy accept;\n");
    }
    if (!chain.comment.empty()) {
      out += "\t\tcomment ";
      AppendQuoted(out, chain.comment);
      out += "\n";
    }
    for (const NftRule& rule : chain.rules) absl::StrAppend(&out, "\t\t", RenderRule(rule), "\n");
    out += "\t}\n";
  }
  out += "}\n";
  return out;
}

}  // namespace kproxy::proxier::nftables
