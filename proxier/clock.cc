#include "proxier/clock.h"

namespace kproxy::proxier {

RealClock* RealClock::Get() {
  static RealClock* clock = new RealClock();
  return clock;
}

}  // namespace kproxy::proxier
