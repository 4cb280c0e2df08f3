// Self-check of absl_mutex_tsan.so: two threads increment a counter guarded by an absl::Mutex
// (through MutexLock and a CondVar hand-off). Run under TSan without the shim it reports a (false)
// race; with the shim preloaded it must be clean. scripts/sanitize.sh runs both.
#include <cstdio>
#include <thread>

#include "absl/synchronization/mutex.h"

int main() {
  absl::Mutex mu;
  absl::CondVar cv;
  int counter = 0;
  bool ready = false;
  std::thread t([&] {
    for (int i = 0; i < 1000; ++i) {
      absl::MutexLock l(&mu);
      ++counter;
    }
    absl::MutexLock l(&mu);
    ready = true;
    cv.Signal();
  });
  for (int i = 0; i < 1000; ++i) {
    absl::MutexLock l(&mu);
    ++counter;
  }
  {
    absl::MutexLock l(&mu);
    while (!ready) cv.Wait(&mu);
  }
  t.join();
  mu.Lock();
  mu.Await(absl::Condition(+[](int* c) { return *c == 2000; }, &counter));
  int final_count = counter;
  mu.Unlock();
  printf("counter=%d\n", final_count);
  return final_count == 2000 ? 0 : 1;
}
