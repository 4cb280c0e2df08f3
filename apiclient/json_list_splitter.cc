#include "apiclient/json_list_splitter.h"

#include "absl/strings/str_cat.h"

namespace kproxy::apiclient {
namespace {

class Scanner {
 public:
  explicit Scanner(absl::string_view text) : text_(text) {}

  size_t pos() const { return pos_; }
  bool AtEnd() const { return pos_ >= text_.size(); }
  char Peek() const { return AtEnd() ? '\0' : text_[pos_]; }

  void SkipSpace() {
    while (!AtEnd() && (text_[pos_] == ' ' || text_[pos_] == '\t' || text_[pos_] == '\n' || text_[pos_] == '\r')) {
      ++pos_;
    }
  }
  bool Consume(char c) {
    if (Peek() != c) return false;
    ++pos_;
    return true;
  }
  // Past the closing quote of the string starting here; the raw text between the quotes.
  bool SkipString(absl::string_view* raw) {
    if (!Consume('"')) return false;
    const size_t start = pos_;
    while (!AtEnd()) {
      const char c = text_[pos_++];
      if (c == '\\') {
        ++pos_;  // the escaped character (may run past the end: then no closing quote is found)
      } else if (c == '"') {
        if (raw != nullptr) *raw = text_.substr(start, pos_ - 1 - start);
        return true;
      }
    }
    return false;
  }
  // Past one value: a string, a balanced object/array (quotes respected), or a scalar token.
  bool SkipValue() {
    const char c = Peek();
    if (c == '"') return SkipString(nullptr);
    if (c == '{' || c == '[') {
      int depth = 0;
      while (!AtEnd()) {
        const char d = text_[pos_];
        if (d == '"') {
          if (!SkipString(nullptr)) return false;
          continue;
        }
        ++pos_;
        if (d == '{' || d == '[') {
          ++depth;
        } else if (d == '}' || d == ']') {
          if (--depth == 0) return true;
        }
      }
      return false;
    }
    const size_t start = pos_;
    while (!AtEnd()) {
      const char d = text_[pos_];
      if (d == ',' || d == '}' || d == ']' || d == ' ' || d == '\t' || d == '\n' || d == '\r') break;
      ++pos_;
    }
    return pos_ > start;
  }

 private:
  absl::string_view text_;
  size_t pos_ = 0;
};

}  // namespace

std::optional<JsonListLayout> SplitJsonList(absl::string_view json) {
  Scanner s(json);
  s.SkipSpace();
  if (!s.Consume('{')) return std::nullopt;
  size_t items_begin = 0;
  size_t items_end = 0;
  bool found = false;
  s.SkipSpace();
  if (!s.Consume('}')) {
    while (true) {
      s.SkipSpace();
      absl::string_view key;
      if (!s.SkipString(&key)) return std::nullopt;
      s.SkipSpace();
      if (!s.Consume(':')) return std::nullopt;
      s.SkipSpace();
      const size_t value_begin = s.pos();
      const bool is_items = key == "items";
      if (is_items && (found || s.Peek() != '[')) return std::nullopt;
      if (!s.SkipValue()) return std::nullopt;
      if (is_items) {
        found = true;
        items_begin = value_begin;
        items_end = s.pos();
      }
      s.SkipSpace();
      if (s.Consume('}')) break;
      if (!s.Consume(',')) return std::nullopt;
    }
  }
  s.SkipSpace();
  if (!found || !s.AtEnd()) return std::nullopt;

  JsonListLayout layout;
  // The first pass only found the array's end; walk its elements.
  absl::string_view array = json.substr(items_begin, items_end - items_begin);
  Scanner a(array);
  a.Consume('[');
  a.SkipSpace();
  if (!a.Consume(']')) {
    while (true) {
      a.SkipSpace();
      const size_t begin = a.pos();
      if (!a.SkipValue()) return std::nullopt;
      layout.items.push_back(array.substr(begin, a.pos() - begin));
      a.SkipSpace();
      if (a.Consume(']')) break;
      if (!a.Consume(',')) return std::nullopt;
    }
  }
  a.SkipSpace();
  if (!a.AtEnd()) return std::nullopt;
  layout.shell = absl::StrCat(json.substr(0, items_begin), "[]", json.substr(items_end));
  return layout;
}

}  // namespace kproxy::apiclient
