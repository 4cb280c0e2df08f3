// NfnetlinkSocket: one NETLINK_NETFILTER socket that sends nf_tables batches and requests and
// collects the kernel's answers. Shared by the iptables-nft direct writer, the nftables mode's
// writer and the leftover cleanup, so the send/ACK/errno handling exists once.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/types/span.h"

struct mnl_socket;
struct nlmsghdr;

namespace kproxy::backends::nfnetlink {

// "No such file or directory (ENOENT)".
std::string ErrnoText(int error);

// Appends one netlink message of nfnetlink type `type` to `out`; `fill` writes the payload
// (libnftnl's *_nlmsg_build_payload) into the header it is given. The message must fit in
// `max_bytes`.
void AppendMessage(std::string& out, uint16_t type, uint8_t nf_family, uint16_t flags,
                   uint32_t sequence, const std::function<void(nlmsghdr*)>& fill,
                   size_t max_bytes = 16384);

// The kernel's first refusal within a batch.
struct BatchError {
  uint32_t sequence = 0;  // of the refused message (the BATCH_BEGIN's when the batch was refused)
  int error_number = 0;
  std::string detail;     // the kernel's extended-ACK text, if any
};

// What the kernel answered to a batch.
struct BatchAnswer {
  size_t acknowledged = 0;             // messages answered with success (NLM_F_ACK ones)
  std::optional<BatchError> first_error;
};

class NfnetlinkSocket {
 public:
  // Opens (close-on-exec) and binds a NETLINK_NETFILTER socket in the calling thread's network
  // namespace. The message names errno, so a kernel without nfnetlink is recognisable.
  static absl::StatusOr<std::unique_ptr<NfnetlinkSocket>> Open();
  ~NfnetlinkSocket();

  // A fresh block of `count` consecutive sequence numbers; returns the first.
  uint32_t TakeSequences(uint32_t count);

  // Sends `request` (one message with sequence `sequence`, NLM_F_ACK set) and waits for its
  // answer; `errno_out` is the kernel's errno (0: success). Dump replies are passed to `on_reply`
  // (when given) until NLMSG_DONE or the error/ACK.
  absl::Status RoundTrip(absl::string_view request, uint32_t sequence, int& errno_out,
                         const std::function<void(const nlmsghdr*)>& on_reply = nullptr);

  // Sends the batch held in `blocks` (BATCH_BEGIN with `begin_sequence` ... BATCH_END with
  // `end_sequence`, `messages` operations in between) with one sendmsg, then a GETGEN fence with
  // sequence end_sequence + 1 (reserve it), and collects every answer up to the fence. An error
  // status means the outcome is unknown (the socket failed); a refused batch is a BatchAnswer with
  // first_error, and then nothing was changed.
  absl::StatusOr<BatchAnswer> SendBatch(absl::Span<const std::string> blocks,
                                        uint32_t begin_sequence, uint32_t end_sequence,
                                        size_t messages);

 private:
  struct SocketCloser {
    void operator()(mnl_socket* socket) const;
  };
  NfnetlinkSocket(std::unique_ptr<mnl_socket, SocketCloser> socket, uint32_t first_sequence);
  absl::Status EnsureSendBuffer(size_t bytes);

  const std::unique_ptr<mnl_socket, SocketCloser> socket_;
  uint32_t next_sequence_;
  size_t send_buffer_bytes_ = 0;
  size_t receive_buffer_bytes_ = 0;
};

}  // namespace kproxy::backends::nfnetlink
