// nft_writer_probe: a command-line handle on IptablesNftWriter and NftRuleTranslator for the kernel
// tests and the benchmark (run it inside a network namespace with ip netns exec).
//
//   nft_writer_probe 4|6 apply FILE      apply FILE (iptables-restore --noflush input) directly
//   nft_writer_probe 4|6 coverage FILE   print "lines N translated M rejected R", then each
//                                        rejected line as "rejected: <error>"
//   nft_writer_probe 4|6 time FILE RUNS [PAUSE_MS]
//                                        apply FILE RUNS times with one writer, PAUSE_MS apart
//                                        (default 0); print each run's wall time in microseconds
// Exit status 0 on success; the error on stderr otherwise (exit 3 for Unimplemented, 4 for
// FailedPrecondition, 1 for anything else).
#include <chrono>
#include <fstream>
#include <iostream>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "backends/iptables/iptables_nft_writer.h"
#include "backends/iptables/nft_rule_translator.h"

namespace {

namespace ipt = kproxy::backends::iptables;

int ExitCode(const absl::Status& status) {
  if (status.ok()) return 0;
  std::cerr << status << "\n";
  if (status.code() == absl::StatusCode::kUnimplemented) return 3;
  if (status.code() == absl::StatusCode::kFailedPrecondition) return 4;
  return 1;
}

bool ReadFile(const std::string& path, std::string& out) {
  std::ifstream file(path);
  if (!file) return false;
  std::stringstream buffer;
  buffer << file.rdbuf();
  out = buffer.str();
  return true;
}

// Translates `input`; each rejected line is blanked out and the rest translated again, so every
// line outside the grammar is reported, not only the first.
int Coverage(kproxy::proxier::IpFamily family, const std::string& input) {
  std::vector<std::string> lines = absl::StrSplit(input, '\n');
  ipt::NftRuleTranslator translator(family);
  std::vector<std::string> rejected;
  while (true) {
    std::string joined = absl::StrJoin(lines, "\n");
    absl::StatusOr<ipt::NftTranslation> translation = translator.Translate(joined);
    if (translation.ok()) break;
    std::string message(translation.status().message());
    int line = 0;
    // "input line N (...)"
    const std::string kMarker = "input line ";
    size_t at = message.find(kMarker);
    size_t end = at == std::string::npos ? at : message.find(' ', at + kMarker.size());
    if (at == std::string::npos ||
        !absl::SimpleAtoi(message.substr(at + kMarker.size(), end - at - kMarker.size()), &line) ||
        line < 1 || static_cast<size_t>(line) > lines.size() || lines[line - 1].empty()) {
      std::cerr << "cannot locate the rejected line: " << message << "\n";
      return 1;
    }
    rejected.push_back(message);
    lines[line - 1].clear();
  }
  size_t translated = 0;
  for (const std::string& line : lines) {
    if (!line.empty()) ++translated;
  }
  std::cout << "lines " << translated + rejected.size() << " translated " << translated
            << " rejected " << rejected.size() << "\n";
  for (const std::string& message : rejected) std::cout << "rejected: " << message << "\n";
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 4) {
    std::cerr << "usage: nft_writer_probe 4|6 apply|coverage|time FILE [RUNS]\n";
    return 2;
  }
  const std::string family_text = argv[1];
  const std::string command = argv[2];
  const auto family =
      family_text == "6" ? kproxy::proxier::IpFamily::kIPv6 : kproxy::proxier::IpFamily::kIPv4;
  std::string input;
  if (!ReadFile(argv[3], input)) {
    std::cerr << "cannot read " << argv[3] << "\n";
    return 2;
  }
  if (command == "coverage") return Coverage(family, input);
  absl::StatusOr<std::unique_ptr<ipt::IptablesNftWriter>> writer =
      ipt::IptablesNftWriter::Create(family);
  if (!writer.ok()) return ExitCode(writer.status());
  const absl::string_view pieces[] = {input};
  if (command == "apply") return ExitCode((*writer)->Apply(pieces));
  if (command == "time" && argc >= 5) {
    int runs = 0;
    int pause_ms = 0;
    if (!absl::SimpleAtoi(argv[4], &runs) || runs < 1) return 2;
    if (argc >= 6 && !absl::SimpleAtoi(argv[5], &pause_ms)) return 2;
    for (int run = 0; run < runs; ++run) {
      if (run > 0 && pause_ms > 0) std::this_thread::sleep_for(std::chrono::milliseconds(pause_ms));
      auto start = std::chrono::steady_clock::now();
      absl::Status status = (*writer)->Apply(pieces);
      auto elapsed = std::chrono::steady_clock::now() - start;
      if (!status.ok()) return ExitCode(status);
      std::cout << std::chrono::duration_cast<std::chrono::microseconds>(elapsed).count() << "\n";
    }
    return 0;
  }
  std::cerr << "unknown command " << command << "\n";
  return 2;
}
