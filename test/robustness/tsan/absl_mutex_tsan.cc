// TSan happens-before annotations for Debian's prebuilt Abseil, loaded with LD_PRELOAD into the
// TSan test binaries (scripts/sanitize.sh). Debian's libabsl_synchronization is not built with
// -fsanitize=thread, so TSan cannot see absl::Mutex hand-offs and reports every ABSL_GUARDED_BY
// field as a race. This library interposes the exported Mutex/CondVar entry points: it calls the
// real one (dlsym RTLD_NEXT) and tells TSan "acquire" after taking the lock and "release" before
// dropping it, so guarded accesses are ordered exactly as the mutex orders them.
//
// absl evaluates a waiter's Condition under the mutex's internal lock, in the waiter's thread or in
// whichever thread is unlocking; the conditional entry points therefore pass absl a wrapping
// Condition that acquires before and releases after evaluating the caller's.
//
// Limits: reader locks are modelled as full acquire/release, so a race between two *readers* that
// both write would be hidden; lock-order (deadlock) detection is not provided.
//
// Built without -fsanitize (it must not be instrumented itself); the __tsan_* hooks are weak, so the
// library is inert in a process without the TSan runtime.
#include <dlfcn.h>

#include "absl/synchronization/mutex.h"

#include <cstdint>
#include <cstdio>
#include <cstdlib>

extern "C" {
void __tsan_acquire(void* addr) __attribute__((weak));
void __tsan_release(void* addr) __attribute__((weak));
}

namespace {

// absl::Duration and absl::Time are 16-byte trivially copyable values ({int64, uint32}); passed
// by value they travel in two integer registers, as this struct does.
struct Value16 {
  int64_t hi;
  uint32_t lo;
};

inline void Acquire(void* mu) {
  if (__tsan_acquire != nullptr) __tsan_acquire(mu);
}
inline void Release(void* mu) {
  if (__tsan_release != nullptr) __tsan_release(mu);
}

template <typename Fn>
Fn Real(const char* symbol) {
  void* p = dlsym(RTLD_NEXT, symbol);
  if (p == nullptr) {
    fprintf(stderr, "absl_mutex_tsan: %s not found: %s\n", symbol, dlerror());
    abort();
  }
  return reinterpret_cast<Fn>(p);
}

// A Condition evaluated with the mutex's happens-before edges around it.
struct Wrapped {
  void* mu;
  const absl::Condition* cond;
  static bool Eval(Wrapped* w) {
    Acquire(w->mu);
    const bool r = w->cond->Eval();
    Release(w->mu);
    return r;
  }
};

}  // namespace

// Declares the wrapped form `wc` of `cond` for mutex `mu`.
#define KPROXY_WRAP(mu, cond)                                                            \
  Wrapped w{mu, static_cast<const absl::Condition*>(cond)};                              \
  absl::Condition wc_storage(+[](Wrapped* x) { return Wrapped::Eval(x); }, &w);          \
  const void* wc = &wc_storage

// The real entry point, resolved once (thread-safe static initialisation).
#define KPROXY_REAL(sym, ...)   \
  using RealFn = __VA_ARGS__; \
  static const RealFn real = Real<RealFn>(sym)

#define EXPORT(sym) __asm__(sym) __attribute__((visibility("default"), used))

extern "C" {

// ---- exclusive locks ----------------------------------------------------------------------------
void MutexLock(void* mu) EXPORT("_ZN4absl7debian35Mutex4LockEv");
void MutexLock(void* mu) {
  KPROXY_REAL("_ZN4absl7debian35Mutex4LockEv", void (*)(void*));
  real(mu);
  Acquire(mu);
}

void MutexUnlock(void* mu) EXPORT("_ZN4absl7debian35Mutex6UnlockEv");
void MutexUnlock(void* mu) {
  KPROXY_REAL("_ZN4absl7debian35Mutex6UnlockEv", void (*)(void*));
  Release(mu);
  real(mu);
  Release(mu);
}

bool MutexTryLock(void* mu) EXPORT("_ZN4absl7debian35Mutex7TryLockEv");
bool MutexTryLock(void* mu) {
  KPROXY_REAL("_ZN4absl7debian35Mutex7TryLockEv", bool (*)(void*));
  bool ok = real(mu);
  if (ok) Acquire(mu);
  return ok;
}

// ---- shared locks (modelled as exclusive hand-offs) ---------------------------------------------
void MutexReaderLock(void* mu) EXPORT("_ZN4absl7debian35Mutex10ReaderLockEv");
void MutexReaderLock(void* mu) {
  KPROXY_REAL("_ZN4absl7debian35Mutex10ReaderLockEv", void (*)(void*));
  real(mu);
  Acquire(mu);
}

void MutexReaderUnlock(void* mu) EXPORT("_ZN4absl7debian35Mutex12ReaderUnlockEv");
void MutexReaderUnlock(void* mu) {
  KPROXY_REAL("_ZN4absl7debian35Mutex12ReaderUnlockEv", void (*)(void*));
  Release(mu);
  real(mu);
  Release(mu);
}

bool MutexReaderTryLock(void* mu) EXPORT("_ZN4absl7debian35Mutex13ReaderTryLockEv");
bool MutexReaderTryLock(void* mu) {
  KPROXY_REAL("_ZN4absl7debian35Mutex13ReaderTryLockEv", bool (*)(void*));
  bool ok = real(mu);
  if (ok) Acquire(mu);
  return ok;
}

// ---- conditional locking and waiting ------------------------------------------------------------
void MutexLockWhen(void* mu, const void* cond) EXPORT("_ZN4absl7debian35Mutex8LockWhenERKNS0_9ConditionE");
void MutexLockWhen(void* mu, const void* cond) {
  KPROXY_REAL("_ZN4absl7debian35Mutex8LockWhenERKNS0_9ConditionE", void (*)(void*, const void*));
  KPROXY_WRAP(mu, cond);
  real(mu, wc);
  Acquire(mu);
}

void MutexReaderLockWhen(void* mu, const void* cond) EXPORT("_ZN4absl7debian35Mutex14ReaderLockWhenERKNS0_9ConditionE");
void MutexReaderLockWhen(void* mu, const void* cond) {
  KPROXY_REAL("_ZN4absl7debian35Mutex14ReaderLockWhenERKNS0_9ConditionE", void (*)(void*, const void*));
  KPROXY_WRAP(mu, cond);
  real(mu, wc);
  Acquire(mu);
}

bool MutexLockWhenWithTimeout(void* mu, const void* cond, Value16 d)
    EXPORT("_ZN4absl7debian35Mutex19LockWhenWithTimeoutERKNS0_9ConditionENS0_8DurationE");
bool MutexLockWhenWithTimeout(void* mu, const void* cond, Value16 d) {
  KPROXY_REAL("_ZN4absl7debian35Mutex19LockWhenWithTimeoutERKNS0_9ConditionENS0_8DurationE", bool (*)(void*, const void*, Value16));
  KPROXY_WRAP(mu, cond);
  bool r = real(mu, wc, d);
  Acquire(mu);  // held on return whatever the result
  return r;
}

bool MutexLockWhenWithDeadline(void* mu, const void* cond, Value16 t)
    EXPORT("_ZN4absl7debian35Mutex20LockWhenWithDeadlineERKNS0_9ConditionENS0_4TimeE");
bool MutexLockWhenWithDeadline(void* mu, const void* cond, Value16 t) {
  KPROXY_REAL("_ZN4absl7debian35Mutex20LockWhenWithDeadlineERKNS0_9ConditionENS0_4TimeE", bool (*)(void*, const void*, Value16));
  KPROXY_WRAP(mu, cond);
  bool r = real(mu, wc, t);
  Acquire(mu);
  return r;
}

bool MutexReaderLockWhenWithTimeout(void* mu, const void* cond, Value16 d)
    EXPORT("_ZN4absl7debian35Mutex25ReaderLockWhenWithTimeoutERKNS0_9ConditionENS0_8DurationE");
bool MutexReaderLockWhenWithTimeout(void* mu, const void* cond, Value16 d) {
  KPROXY_REAL("_ZN4absl7debian35Mutex25ReaderLockWhenWithTimeoutERKNS0_9ConditionENS0_8DurationE", bool (*)(void*, const void*, Value16));
  KPROXY_WRAP(mu, cond);
  bool r = real(mu, wc, d);
  Acquire(mu);
  return r;
}

bool MutexReaderLockWhenWithDeadline(void* mu, const void* cond, Value16 t)
    EXPORT("_ZN4absl7debian35Mutex26ReaderLockWhenWithDeadlineERKNS0_9ConditionENS0_4TimeE");
bool MutexReaderLockWhenWithDeadline(void* mu, const void* cond, Value16 t) {
  KPROXY_REAL("_ZN4absl7debian35Mutex26ReaderLockWhenWithDeadlineERKNS0_9ConditionENS0_4TimeE", bool (*)(void*, const void*, Value16));
  KPROXY_WRAP(mu, cond);
  bool r = real(mu, wc, t);
  Acquire(mu);
  return r;
}

// Await releases the mutex while it waits and holds it again on return.
void MutexAwait(void* mu, const void* cond) EXPORT("_ZN4absl7debian35Mutex5AwaitERKNS0_9ConditionE");
void MutexAwait(void* mu, const void* cond) {
  KPROXY_REAL("_ZN4absl7debian35Mutex5AwaitERKNS0_9ConditionE", void (*)(void*, const void*));
  Release(mu);
  KPROXY_WRAP(mu, cond);
  real(mu, wc);
  Acquire(mu);
}

bool MutexAwaitWithTimeout(void* mu, const void* cond, Value16 d)
    EXPORT("_ZN4absl7debian35Mutex16AwaitWithTimeoutERKNS0_9ConditionENS0_8DurationE");
bool MutexAwaitWithTimeout(void* mu, const void* cond, Value16 d) {
  KPROXY_REAL("_ZN4absl7debian35Mutex16AwaitWithTimeoutERKNS0_9ConditionENS0_8DurationE", bool (*)(void*, const void*, Value16));
  Release(mu);
  KPROXY_WRAP(mu, cond);
  bool r = real(mu, wc, d);
  Acquire(mu);
  return r;
}

bool MutexAwaitWithDeadline(void* mu, const void* cond, Value16 t)
    EXPORT("_ZN4absl7debian35Mutex17AwaitWithDeadlineERKNS0_9ConditionENS0_4TimeE");
bool MutexAwaitWithDeadline(void* mu, const void* cond, Value16 t) {
  KPROXY_REAL("_ZN4absl7debian35Mutex17AwaitWithDeadlineERKNS0_9ConditionENS0_4TimeE", bool (*)(void*, const void*, Value16));
  Release(mu);
  KPROXY_WRAP(mu, cond);
  bool r = real(mu, wc, t);
  Acquire(mu);
  return r;
}

void CondVarWait(void* cv, void* mu) EXPORT("_ZN4absl7debian37CondVar4WaitEPNS0_5MutexE");
void CondVarWait(void* cv, void* mu) {
  KPROXY_REAL("_ZN4absl7debian37CondVar4WaitEPNS0_5MutexE", void (*)(void*, void*));
  Release(mu);
  real(cv, mu);
  Acquire(mu);
}

bool CondVarWaitWithTimeout(void* cv, void* mu, Value16 d)
    EXPORT("_ZN4absl7debian37CondVar15WaitWithTimeoutEPNS0_5MutexENS0_8DurationE");
bool CondVarWaitWithTimeout(void* cv, void* mu, Value16 d) {
  KPROXY_REAL("_ZN4absl7debian37CondVar15WaitWithTimeoutEPNS0_5MutexENS0_8DurationE", bool (*)(void*, void*, Value16));
  Release(mu);
  bool r = real(cv, mu, d);
  Acquire(mu);
  return r;
}

bool CondVarWaitWithDeadline(void* cv, void* mu, Value16 t)
    EXPORT("_ZN4absl7debian37CondVar16WaitWithDeadlineEPNS0_5MutexENS0_4TimeE");
bool CondVarWaitWithDeadline(void* cv, void* mu, Value16 t) {
  KPROXY_REAL("_ZN4absl7debian37CondVar16WaitWithDeadlineEPNS0_5MutexENS0_4TimeE", bool (*)(void*, void*, Value16));
  Release(mu);
  bool r = real(cv, mu, t);
  Acquire(mu);
  return r;
}

}  // extern "C"
