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

std::string RenderSetDeclaration(const NftSet& set) {
  std::string out;
  absl::StrAppend(&out, set.use_typeof ? "typeof " : "type ", absl::StrJoin(set.key_types, " . "));
  if (IsMap(set)) absl::StrAppend(&out, " : ", absl::StrJoin(set.value_types, " . "));
  out += " ;";
  if (set.interval && set.timeout) {
    out += " flags interval,dynamic,timeout ;";
  } else if (set.interval) {
    out += " flags interval ;";
  } else if (set.timeout) {
    out += " flags dynamic,timeout ;";
  }
  if (set.default_timeout > absl::ZeroDuration()) {
    absl::StrAppend(&out, " timeout ", absl::ToInt64Seconds(set.default_timeout), "s ;");
  }
  if (!set.comment.empty()) {
    out += " comment ";
    AppendQuoted(out, set.comment);
    out += " ;";
  }
  return out;
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
    absl::StrAppend(&out, "\t\t", set.use_typeof ? "typeof " : "type ",
                    absl::StrJoin(set.key_types, " . "));
    if (IsMap(set)) absl::StrAppend(&out, " : ", absl::StrJoin(set.value_types, " . "));
    out += "\n";
    if (set.interval && set.timeout) {
      out += "\t\tflags interval,dynamic,timeout\n";
    } else if (set.interval) {
      out += "\t\tflags interval\n";
    } else if (set.timeout) {
      out += "\t\tflags dynamic,timeout\n";
    }
    if (set.default_timeout > absl::ZeroDuration()) {
      absl::StrAppend(&out, "\t\ttimeout ", absl::ToInt64Seconds(set.default_timeout), "s\n");
    }
    if (!set.comment.empty()) {
      out += "\t\tcomment ";
      AppendQuoted(out, set.comment);
      out += "\n";
    }
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
