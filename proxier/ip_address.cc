#include "proxier/ip_address.h"

#include <arpa/inet.h>

#include <cstring>

#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"

namespace kproxy::proxier {

absl::string_view IpFamilyName(IpFamily family) {
  return family == IpFamily::kIPv4 ? "IPv4" : "IPv6";
}

absl::StatusOr<IpAddress> IpAddress::Parse(absl::string_view text) {
  // inet_pton needs a NUL-terminated string; addresses are short, so a stack buffer suffices.
  char buf[INET6_ADDRSTRLEN + 1];
  if (text.empty() || text.size() >= sizeof(buf)) {
    return absl::InvalidArgumentError(absl::StrCat("invalid IP address \"", text, "\""));
  }
  std::memcpy(buf, text.data(), text.size());
  buf[text.size()] = '\0';
  IpAddress ip;
  if (text.find(':') == absl::string_view::npos) {
    if (inet_pton(AF_INET, buf, ip.bytes_.data()) != 1) {
      return absl::InvalidArgumentError(absl::StrCat("invalid IP address \"", text, "\""));
    }
    ip.family_ = IpFamily::kIPv4;
    return ip;
  }
  if (inet_pton(AF_INET6, buf, ip.bytes_.data()) != 1) {
    return absl::InvalidArgumentError(absl::StrCat("invalid IP address \"", text, "\""));
  }
  static constexpr uint8_t kMappedPrefix[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
  if (std::memcmp(ip.bytes_.data(), kMappedPrefix, 12) == 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("invalid IP address \"", text, "\": IPv4-mapped IPv6 is not allowed"));
  }
  ip.family_ = IpFamily::kIPv6;
  return ip;
}

IpAddress IpAddress::FromV4Bytes(const uint8_t bytes[4]) {
  IpAddress ip;
  ip.family_ = IpFamily::kIPv4;
  std::memcpy(ip.bytes_.data(), bytes, 4);
  return ip;
}

IpAddress IpAddress::FromV6Bytes(const uint8_t bytes[16]) {
  IpAddress ip;
  ip.family_ = IpFamily::kIPv6;
  std::memcpy(ip.bytes_.data(), bytes, 16);
  return ip;
}

bool IpAddress::IsLoopback() const {
  if (is_v4()) return bytes_[0] == 127;
  for (int i = 0; i < 15; ++i) {
    if (bytes_[i] != 0) return false;
  }
  return bytes_[15] == 1;
}

bool IpAddress::IsUnspecified() const {
  int n = is_v4() ? 4 : 16;
  for (int i = 0; i < n; ++i) {
    if (bytes_[i] != 0) return false;
  }
  return true;
}

std::string IpAddress::ToString() const {
  std::string out;
  AppendTo(out);
  return out;
}

void IpAddress::AppendTo(std::string& out) const {
  if (!is_v4()) {
    char buf[INET6_ADDRSTRLEN];
    inet_ntop(AF_INET6, bytes_.data(), buf, sizeof(buf));
    out.append(buf);
    return;
  }
  for (int i = 0; i < 4; ++i) {
    if (i > 0) out.push_back('.');
    const unsigned v = bytes_[i];
    if (v >= 100) out.push_back(static_cast<char>('0' + v / 100));
    if (v >= 10) out.push_back(static_cast<char>('0' + (v / 10) % 10));
    out.push_back(static_cast<char>('0' + v % 10));
  }
}

std::string IpAddress::JoinPort(int port) const {
  if (is_v4()) return absl::StrCat(ToString(), ":", port);
  return absl::StrCat("[", ToString(), "]:", port);
}

absl::StatusOr<Cidr> Cidr::Parse(absl::string_view text) {
  absl::string_view trimmed = absl::StripAsciiWhitespace(text);
  size_t slash = trimmed.find('/');
  if (slash == absl::string_view::npos) {
    return absl::InvalidArgumentError(absl::StrCat("invalid CIDR \"", text, "\": no prefix length"));
  }
  auto ip = IpAddress::Parse(trimmed.substr(0, slash));
  if (!ip.ok()) {
    return absl::InvalidArgumentError(absl::StrCat("invalid CIDR \"", text, "\""));
  }
  int length = 0;
  absl::string_view len_text = trimmed.substr(slash + 1);
  int max_length = ip->is_v4() ? 32 : 128;
  if (len_text.empty() || len_text.size() > 3 || !absl::SimpleAtoi(len_text, &length) ||
      length < 0 || length > max_length) {
    return absl::InvalidArgumentError(
        absl::StrCat("invalid CIDR \"", text, "\": bad prefix length"));
  }
  Cidr cidr;
  cidr.prefix_length_ = length;
  std::array<uint8_t, 16> bytes = ip->bytes();
  for (int bit = length; bit < max_length; ++bit) {
    bytes[bit / 8] &= static_cast<uint8_t>(~(0x80u >> (bit % 8)));
  }
  cidr.address_ = ip->is_v4() ? IpAddress::FromV4Bytes(bytes.data())
                              : IpAddress::FromV6Bytes(bytes.data());
  return cidr;
}

Cidr Cidr::Host(const IpAddress& ip) {
  Cidr cidr;
  cidr.address_ = ip;
  cidr.prefix_length_ = ip.is_v4() ? 32 : 128;
  return cidr;
}

bool Cidr::Contains(const IpAddress& ip) const {
  if (ip.family() != family()) return false;
  const auto& a = address_.bytes();
  const auto& b = ip.bytes();
  int full = prefix_length_ / 8;
  if (std::memcmp(a.data(), b.data(), full) != 0) return false;
  int rest = prefix_length_ % 8;
  if (rest == 0) return true;
  uint8_t mask = static_cast<uint8_t>(0xff00u >> rest);
  return (a[full] & mask) == (b[full] & mask);
}

std::string Cidr::ToString() const {
  return absl::StrCat(address_.ToString(), "/", prefix_length_);
}

}  // namespace kproxy::proxier
