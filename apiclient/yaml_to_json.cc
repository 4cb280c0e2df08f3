#include "apiclient/yaml_to_json.h"

#include <yaml-cpp/yaml.h>

#include <cstdint>
#include <cstdlib>
#include <exception>

#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_replace.h"
#include "absl/strings/strip.h"

namespace kproxy::apiclient {
namespace {

// Deeper documents are not Kubernetes objects; the limit keeps recursion off the stack's edge.
constexpr int kMaxDepth = 64;

void AppendJsonString(absl::string_view s, std::string* out) {
  out->push_back('"');
  for (char c : s) {
    switch (c) {
      case '"':
        out->append("\\\"");
        break;
      case '\\':
        out->append("\\\\");
        break;
      case '\n':
        out->append("\\n");
        break;
      case '\r':
        out->append("\\r");
        break;
      case '\t':
        out->append("\\t");
        break;
      case '\b':
        out->append("\\b");
        break;
      case '\f':
        out->append("\\f");
        break;
      default:
        if (static_cast<unsigned char>(c) < 0x20) {
          absl::StrAppendFormat(out, "\\u%04x", static_cast<unsigned char>(c));
        } else {
          out->push_back(c);
        }
    }
  }
  out->push_back('"');
}

bool IsNull(absl::string_view s) {
  return s.empty() || s == "~" || s == "null" || s == "Null" || s == "NULL";
}

// YAML 1.1 booleans as go-yaml v2 resolves them, minus the single letters y/n, which in
// Kubernetes manifests are far more often meant as strings.
std::optional<bool> ParseBool(absl::string_view s) {
  static constexpr absl::string_view kTrue[] = {"true", "True", "TRUE", "yes", "Yes",
                                                "YES",  "on",   "On",   "ON"};
  static constexpr absl::string_view kFalse[] = {"false", "False", "FALSE", "no", "No",
                                                 "NO",    "off",   "Off",   "OFF"};
  for (absl::string_view t : kTrue) {
    if (s == t) return true;
  }
  for (absl::string_view f : kFalse) {
    if (s == f) return false;
  }
  return std::nullopt;
}

bool AllDigits(absl::string_view s, int base) {
  if (s.empty()) return false;
  for (char c : s) {
    bool ok = base == 16 ? absl::ascii_isxdigit(c) : (c >= '0' && c <= (base == 8 ? '7' : '9'));
    if (!ok) return false;
  }
  return true;
}

// Integer forms: 80, -1, +3, 0x1F, 0o17, 1_000. Returns the decimal text.
std::optional<std::string> ParseInt(absl::string_view s) {
  std::string clean = absl::StrReplaceAll(s, {{"_", ""}});
  absl::string_view body = clean;
  bool negative = false;
  if (!body.empty() && (body[0] == '-' || body[0] == '+')) {
    negative = body[0] == '-';
    body.remove_prefix(1);
  }
  int base = 10;
  if (absl::ConsumePrefix(&body, "0x")) {
    base = 16;
  } else if (absl::ConsumePrefix(&body, "0o")) {
    base = 8;
  }
  if (!AllDigits(body, base)) return std::nullopt;
  if (base == 10) {
    // JSON forbids leading zeros; YAML 1.2 reads "0080" as decimal 80.
    while (body.size() > 1 && body[0] == '0') body.remove_prefix(1);
    return absl::StrCat(negative ? "-" : "", body);
  }
  uint64_t value = 0;
  bool ok = base == 16 ? absl::SimpleHexAtoi(body, &value) : false;
  if (base == 8) {
    ok = true;
    for (char c : body) {
      if (value > (UINT64_MAX >> 3)) return std::nullopt;
      value = value * 8 + static_cast<uint64_t>(c - '0');
    }
  }
  if (!ok) return std::nullopt;
  return absl::StrCat(negative ? "-" : "", value);
}

// Float forms: 1.5, .5, 1e3, -2.0E-3. Returns JSON number text.
std::optional<std::string> ParseFloat(absl::string_view s) {
  size_t i = 0;
  if (i < s.size() && (s[i] == '-' || s[i] == '+')) ++i;
  size_t digits = 0;
  while (i < s.size() && absl::ascii_isdigit(s[i])) ++i, ++digits;
  if (i < s.size() && s[i] == '.') {
    ++i;
    while (i < s.size() && absl::ascii_isdigit(s[i])) ++i, ++digits;
  }
  if (digits == 0) return std::nullopt;
  if (i < s.size() && (s[i] == 'e' || s[i] == 'E')) {
    ++i;
    if (i < s.size() && (s[i] == '-' || s[i] == '+')) ++i;
    size_t exp_digits = 0;
    while (i < s.size() && absl::ascii_isdigit(s[i])) ++i, ++exp_digits;
    if (exp_digits == 0) return std::nullopt;
  }
  if (i != s.size()) return std::nullopt;
  double value = 0;
  if (!absl::SimpleAtod(s, &value)) return std::nullopt;
  // %.17g round-trips; JSON needs a digit before any '.', which %g always gives.
  return absl::StrFormat("%.17g", value);
}

void AppendScalar(const YAML::Node& node, std::string* out) {
  const std::string& text = node.Scalar();
  const std::string& tag = node.Tag();
  // "!" marks non-plain scalars (quoted, literal, folded): always strings, like "80" or "true".
  bool plain = tag == "?" || tag.empty();
  bool explicit_str = tag == "!" || absl::EndsWith(tag, ":str") || absl::EndsWith(tag, ":binary") ||
                      absl::EndsWith(tag, ":timestamp");
  if (!plain && explicit_str) {
    AppendJsonString(text, out);
    return;
  }
  if (IsNull(text)) {
    out->append("null");
    return;
  }
  if (std::optional<bool> b = ParseBool(text)) {
    out->append(*b ? "true" : "false");
    return;
  }
  if (std::optional<std::string> i = ParseInt(text)) {
    out->append(*i);
    return;
  }
  if (std::optional<std::string> f = ParseFloat(text)) {
    out->append(*f);
    return;
  }
  AppendJsonString(text, out);
}

absl::Status AppendNode(const YAML::Node& node, int depth, std::string* out) {
  if (depth > kMaxDepth) return absl::InvalidArgumentError("YAML nesting is deeper than 64 levels");
  switch (node.Type()) {
    case YAML::NodeType::Undefined:
    case YAML::NodeType::Null:
      out->append("null");
      return absl::OkStatus();
    case YAML::NodeType::Scalar:
      AppendScalar(node, out);
      return absl::OkStatus();
    case YAML::NodeType::Sequence: {
      out->push_back('[');
      bool first = true;
      for (const YAML::Node& item : node) {
        if (!first) out->push_back(',');
        first = false;
        absl::Status st = AppendNode(item, depth + 1, out);
        if (!st.ok()) return st;
      }
      out->push_back(']');
      return absl::OkStatus();
    }
    case YAML::NodeType::Map: {
      out->push_back('{');
      bool first = true;
      for (const auto& entry : node) {
        if (!entry.first.IsScalar()) {
          return absl::InvalidArgumentError(
              absl::StrCat("line ", entry.first.Mark().line + 1, ": mapping keys must be scalars"));
        }
        if (!first) out->push_back(',');
        first = false;
        AppendJsonString(entry.first.Scalar(), out);
        out->push_back(':');
        absl::Status st = AppendNode(entry.second, depth + 1, out);
        if (!st.ok()) return st;
      }
      out->push_back('}');
      return absl::OkStatus();
    }
  }
  return absl::OkStatus();
}

bool IsSeparator(absl::string_view line, absl::string_view* rest) {
  if (!absl::StartsWith(line, "---")) return false;
  absl::string_view after = line.substr(3);
  if (!after.empty() && after[0] != ' ' && after[0] != '\t') return false;
  *rest = absl::StripLeadingAsciiWhitespace(after);
  return true;
}

}  // namespace

std::vector<YamlDocument> SplitYamlDocuments(absl::string_view stream) {
  std::vector<YamlDocument> docs;
  YamlDocument current;
  current.first_line = 1;
  int line_no = 0;
  size_t pos = 0;
  auto flush = [&](int next_first_line) {
    if (!absl::StripAsciiWhitespace(current.text).empty()) docs.push_back(std::move(current));
    current = YamlDocument{};
    current.first_line = next_first_line;
  };
  while (pos <= stream.size()) {
    size_t end = stream.find('\n', pos);
    if (end == absl::string_view::npos) end = stream.size();
    absl::string_view line = stream.substr(pos, end - pos);
    ++line_no;
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    absl::string_view rest;
    if (IsSeparator(line, &rest)) {
      if (absl::StartsWith(rest, "#")) rest = {};
      // Content after "--- " on the separator line belongs to the new document.
      flush(rest.empty() ? line_no + 1 : line_no);
      if (!rest.empty()) absl::StrAppend(&current.text, rest, "\n");
    } else if (line == "...") {
      flush(line_no + 1);
    } else {
      absl::StrAppend(&current.text, line, "\n");
    }
    if (end == stream.size()) break;
    pos = end + 1;
  }
  flush(line_no + 1);
  return docs;
}

absl::StatusOr<std::optional<std::string>> YamlDocumentToJson(absl::string_view document) {
  YAML::Node root;
  try {
    root = YAML::Load(std::string(document));
  } catch (const YAML::Exception& e) {
    return absl::InvalidArgumentError(absl::StrCat("not valid YAML: ", e.what()));
  } catch (const std::exception& e) {
    return absl::InvalidArgumentError(absl::StrCat("not valid YAML: ", e.what()));
  }
  if (!root.IsDefined() || root.IsNull()) return std::optional<std::string>();
  std::string json;
  json.reserve(document.size() + document.size() / 4);
  try {
    absl::Status st = AppendNode(root, 0, &json);
    if (!st.ok()) return st;
  } catch (const YAML::Exception& e) {
    return absl::InvalidArgumentError(absl::StrCat("not valid YAML: ", e.what()));
  }
  return std::optional<std::string>(std::move(json));
}

}  // namespace kproxy::apiclient
