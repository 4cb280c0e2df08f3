#include "backends/iptables/subprocess.h"

#include <fcntl.h>
#include <poll.h>
#include <sys/uio.h>
#include <pthread.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "absl/cleanup/cleanup.h"
#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

extern char** environ;

namespace kproxy::backends::iptables {
namespace {

void CloseFd(int& fd) {
  if (fd >= 0) {
    close(fd);
    fd = -1;
  }
}

}  // namespace

absl::StatusOr<SubprocessResult> RunSubprocess(const std::vector<std::string>& argv,
                                               absl::string_view stdin_text,
                                               absl::Duration timeout) {
  const absl::string_view one[] = {stdin_text};
  return RunSubprocess(argv, absl::MakeConstSpan(one, stdin_text.empty() ? 0 : 1), timeout);
}

absl::StatusOr<SubprocessResult> RunSubprocess(const std::vector<std::string>& argv,
                                               absl::Span<const absl::string_view> stdin_pieces,
                                               absl::Duration timeout) {
  if (argv.empty()) return absl::InvalidArgumentError("RunSubprocess: empty argv");
  const std::string command = absl::StrJoin(argv, " ");
  int in_pipe[2], out_pipe[2], err_pipe[2];
  if (pipe2(in_pipe, O_CLOEXEC) != 0) return absl::InternalError(absl::StrCat(command, ": pipe: ", strerror(errno)));
  if (pipe2(out_pipe, O_CLOEXEC) != 0) {
    close(in_pipe[0]);
    close(in_pipe[1]);
    return absl::InternalError(absl::StrCat(command, ": pipe: ", strerror(errno)));
  }
  if (pipe2(err_pipe, O_CLOEXEC) != 0) {
    for (int fd : {in_pipe[0], in_pipe[1], out_pipe[0], out_pipe[1]}) close(fd);
    return absl::InternalError(absl::StrCat(command, ": pipe: ", strerror(errno)));
  }
  int child_in = in_pipe[0], parent_in = in_pipe[1];
  int parent_out = out_pipe[0], child_out = out_pipe[1];
  int parent_err = err_pipe[0], child_err = err_pipe[1];
  absl::Cleanup close_all = [&] {
    for (int* fd : {&child_in, &parent_in, &parent_out, &child_out, &parent_err, &child_err}) CloseFd(*fd);
  };

  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_adddup2(&actions, child_in, 0);
  posix_spawn_file_actions_adddup2(&actions, child_out, 1);
  posix_spawn_file_actions_adddup2(&actions, child_err, 2);
  // A signal mask/disposition inherited from the daemon (e.g. SIGPIPE ignored) must not leak in.
  posix_spawnattr_t attr;
  posix_spawnattr_init(&attr);
  sigset_t empty, all_default;
  sigemptyset(&empty);
  sigemptyset(&all_default);
  sigaddset(&all_default, SIGPIPE);
  posix_spawnattr_setsigmask(&attr, &empty);
  posix_spawnattr_setsigdefault(&attr, &all_default);
  posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);

  std::vector<char*> cargv;
  for (const std::string& a : argv) cargv.push_back(const_cast<char*>(a.c_str()));
  cargv.push_back(nullptr);
  pid_t pid = -1;
  int rc = posix_spawnp(&pid, cargv[0], &actions, &attr, cargv.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  posix_spawnattr_destroy(&attr);
  if (rc != 0) return absl::UnavailableError(absl::StrCat(command, ": cannot start: ", strerror(rc)));
  CloseFd(child_in);
  CloseFd(child_out);
  CloseFd(child_err);
  for (int fd : {parent_in, parent_out, parent_err}) fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);

  // A child that exits without reading its input makes our write fail with EPIPE; the SIGPIPE that
  // comes with it must not kill the daemon. Block it on this thread and swallow a pending one.
  sigset_t pipe_set, old_mask;
  sigemptyset(&pipe_set);
  sigaddset(&pipe_set, SIGPIPE);
  pthread_sigmask(SIG_BLOCK, &pipe_set, &old_mask);
  absl::Cleanup restore_mask = [&] {
    const timespec zero = {0, 0};
    while (sigtimedwait(&pipe_set, nullptr, &zero) > 0) {
    }
    pthread_sigmask(SIG_SETMASK, &old_mask, nullptr);
  };

  SubprocessResult result;
  // Next byte to write: pieces[piece][offset]. Empty pieces are skipped.
  size_t piece = 0;
  size_t offset = 0;
  auto skip_empty = [&] {
    while (piece < stdin_pieces.size() && offset == stdin_pieces[piece].size()) {
      ++piece;
      offset = 0;
    }
  };
  skip_empty();
  if (piece == stdin_pieces.size()) CloseFd(parent_in);
  const absl::Time deadline = absl::Now() + timeout;
  bool timed_out = false;
  char buf[16384];
  while (parent_out >= 0 || parent_err >= 0 || parent_in >= 0) {
    pollfd fds[3];
    int n = 0;
    int idx_in = -1, idx_out = -1, idx_err = -1;
    if (parent_in >= 0) { idx_in = n; fds[n++] = {parent_in, POLLOUT, 0}; }
    if (parent_out >= 0) { idx_out = n; fds[n++] = {parent_out, POLLIN, 0}; }
    if (parent_err >= 0) { idx_err = n; fds[n++] = {parent_err, POLLIN, 0}; }
    absl::Duration left = deadline - absl::Now();
    if (left <= absl::ZeroDuration()) {
      timed_out = true;
      break;
    }
    int pr = poll(fds, n, static_cast<int>(absl::ToInt64Milliseconds(left)) + 1);
    if (pr < 0) {
      if (errno == EINTR) continue;
      break;
    }
    if (idx_in >= 0 && fds[idx_in].revents) {
      iovec iov[64];
      int count = 0;
      for (size_t i = piece; i < stdin_pieces.size() && count < 64; ++i) {
        const size_t from = i == piece ? offset : 0;
        if (stdin_pieces[i].size() == from) continue;
        iov[count++] = {const_cast<char*>(stdin_pieces[i].data() + from), stdin_pieces[i].size() - from};
      }
      ssize_t w = writev(parent_in, iov, count);
      for (size_t left = w > 0 ? static_cast<size_t>(w) : 0; left > 0;) {
        const size_t take = std::min(left, stdin_pieces[piece].size() - offset);
        offset += take;
        left -= take;
        skip_empty();
      }
      if ((w < 0 && errno != EAGAIN && errno != EINTR) || piece == stdin_pieces.size()) CloseFd(parent_in);
    }
    auto drain = [&](int idx, int& fd, std::string& into) {
      if (idx < 0 || !fds[idx].revents) return;
      ssize_t r = read(fd, buf, sizeof(buf));
      if (r > 0) {
        into.append(buf, static_cast<size_t>(r));
      } else if (r == 0 || (errno != EAGAIN && errno != EINTR)) {
        CloseFd(fd);
      }
    };
    drain(idx_out, parent_out, result.stdout_text);
    drain(idx_err, parent_err, result.stderr_text);
  }
  if (timed_out) kill(pid, SIGKILL);
  int status = 0;
  pid_t waited;
  do {
    waited = waitpid(pid, &status, 0);
  } while (waited < 0 && errno == EINTR);
  if (waited < 0) {
    // ECHILD when the process ignores SIGCHLD: the exit status is lost, so success cannot be claimed.
    return absl::InternalError(absl::StrCat(command, ": waitpid: ", strerror(errno)));
  }
  if (timed_out) {
    return absl::DeadlineExceededError(absl::StrCat(command, ": no exit after ", absl::FormatDuration(timeout),
                                                    "; killed. stderr: ", result.stderr_text));
  }
  if (WIFEXITED(status)) {
    result.exit_code = WEXITSTATUS(status);
  } else if (WIFSIGNALED(status)) {
    result.exit_code = 128 + WTERMSIG(status);
  }
  return result;
}

}  // namespace kproxy::backends::iptables
