#include "cmd/kube-proxy/go_duration.h"

#include <cstdint>
#include <cstdlib>

#include "absl/strings/str_cat.h"

namespace kproxy::daemon {
namespace {

absl::Status BadDuration(absl::string_view text, absl::string_view why) {
  return absl::InvalidArgumentError(
      absl::StrCat("invalid duration \"", text, "\": ", why, " (want e.g. 30s, 1m0s, 500ms, 1h)"));
}

// Fraction digits of `v` (in units of 10^-digits), without trailing zeros.
std::string Fraction(uint64_t v, int digits) {
  std::string s(digits, '0');
  for (int i = digits - 1; i >= 0; --i) {
    s[i] = static_cast<char>('0' + v % 10);
    v /= 10;
  }
  while (!s.empty() && s.back() == '0') s.pop_back();
  return s;
}

}  // namespace

absl::StatusOr<absl::Duration> ParseGoDuration(absl::string_view text) {
  absl::string_view s = text;
  bool negative = false;
  if (!s.empty() && (s[0] == '-' || s[0] == '+')) {
    negative = s[0] == '-';
    s.remove_prefix(1);
  }
  if (s == "0") return absl::ZeroDuration();
  if (s.empty()) return BadDuration(text, "empty");
  absl::Duration total = absl::ZeroDuration();
  while (!s.empty()) {
    size_t i = 0;
    uint64_t whole = 0;
    bool any_digit = false;
    while (i < s.size() && s[i] >= '0' && s[i] <= '9') {
      if (whole > (UINT64_MAX - 9) / 10) return BadDuration(text, "overflow");
      whole = whole * 10 + static_cast<uint64_t>(s[i] - '0');
      ++i;
      any_digit = true;
    }
    double frac = 0;
    if (i < s.size() && s[i] == '.') {
      ++i;
      double scale = 0.1;
      while (i < s.size() && s[i] >= '0' && s[i] <= '9') {
        frac += scale * (s[i] - '0');
        scale /= 10;
        ++i;
        any_digit = true;
      }
    }
    if (!any_digit) return BadDuration(text, "expected a number");
    size_t u = i;
    while (u < s.size() && !(s[u] >= '0' && s[u] <= '9') && s[u] != '.') ++u;
    absl::string_view unit = s.substr(i, u - i);
    absl::Duration scale;
    if (unit == "ns") {
      scale = absl::Nanoseconds(1);
    } else if (unit == "us" || unit == "\xC2\xB5s" || unit == "\xCE\xBCs") {
      scale = absl::Microseconds(1);
    } else if (unit == "ms") {
      scale = absl::Milliseconds(1);
    } else if (unit == "s") {
      scale = absl::Seconds(1);
    } else if (unit == "m") {
      scale = absl::Minutes(1);
    } else if (unit == "h") {
      scale = absl::Hours(1);
    } else if (unit.empty()) {
      return BadDuration(text, "missing unit");
    } else {
      return BadDuration(text, absl::StrCat("unknown unit \"", unit, "\""));
    }
    total += scale * static_cast<int64_t>(whole) + scale * frac;
    s.remove_prefix(u);
  }
  return negative ? -total : total;
}

std::string FormatGoDuration(absl::Duration d) {
  if (d == absl::ZeroDuration()) return "0s";
  std::string sign;
  if (d < absl::ZeroDuration()) {
    sign = "-";
    d = -d;
  }
  const int64_t ns = absl::ToInt64Nanoseconds(d);
  const uint64_t u = static_cast<uint64_t>(ns);
  if (u < 1000) return absl::StrCat(sign, u, "ns");
  if (u < 1000000) {
    std::string f = Fraction(u % 1000, 3);
    return absl::StrCat(sign, u / 1000, f.empty() ? "" : ".", f, "µs");
  }
  if (u < 1000000000) {
    std::string f = Fraction(u % 1000000, 6);
    return absl::StrCat(sign, u / 1000000, f.empty() ? "" : ".", f, "ms");
  }
  uint64_t secs = u / 1000000000;
  std::string f = Fraction(u % 1000000000, 9);
  std::string sec_part = absl::StrCat(secs % 60, f.empty() ? "" : ".", f, "s");
  uint64_t mins = secs / 60;
  if (mins == 0) return absl::StrCat(sign, sec_part);
  uint64_t hours = mins / 60;
  if (hours == 0) return absl::StrCat(sign, mins % 60, "m", sec_part);
  return absl::StrCat(sign, hours, "h", mins % 60, "m", sec_part);
}

}  // namespace kproxy::daemon
