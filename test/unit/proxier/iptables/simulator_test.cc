// The test-only iptables simulator must itself catch what the kernel would refuse and trace
// verdicts faithfully, or the packet-flow and partial-sync tests could not fail.
#include "test/unit/proxier/iptables/testing/iptables_simulator.h"

#include "gtest/gtest.h"

namespace kproxy::proxier::iptables::testing {
namespace {

TEST(IptablesSimulatorTest, RejectsWhatIptablesRestoreRejects) {
  IptablesSimulator sim({"192.168.0.2"});
  EXPECT_FALSE(sim.Apply("*nat\n-A KUBE-SERVICES -j ACCEPT\nCOMMIT\n").ok()) << "undeclared chain";
  EXPECT_FALSE(sim.Apply("*nat\n:A - [0:0]\n-A A -j B\nCOMMIT\n").ok()) << "jump to undeclared chain";
  EXPECT_FALSE(sim.Apply("*nat\n:A - [0:0]\n-A A -j ACCEPT\n").ok()) << "missing COMMIT";
  ASSERT_TRUE(sim.Apply("*nat\n:A - [0:0]\n:B - [0:0]\n-A A -j B\nCOMMIT\n").ok());
  EXPECT_FALSE(sim.Apply("*nat\n-X B\nCOMMIT\n").ok()) << "deleting a referenced chain";
  EXPECT_FALSE(sim.Apply("*nat\n-X C\nCOMMIT\n").ok()) << "deleting a missing chain";
  // A failed restore changes nothing.
  EXPECT_TRUE(sim.tables().at("nat").contains("B"));
  // Flushing the referrer first makes the deletion legal.
  EXPECT_TRUE(sim.Apply("*nat\n:A - [0:0]\n:B - [0:0]\n-X B\nCOMMIT\n").ok());
  EXPECT_FALSE(sim.tables().at("nat").contains("B"));
}

TEST(IptablesSimulatorTest, TracesDnatMasqueradeDropAndReject) {
  IptablesSimulator sim({"192.168.0.2"});
  ASSERT_TRUE(sim.Apply(R"(*filter
:KUBE-SERVICES - [0:0]
:KUBE-EXTERNAL-SERVICES - [0:0]
-A KUBE-SERVICES -m comment --comment "x has no endpoints" -m tcp -p tcp -d 172.30.0.2 --dport 80 -j REJECT
-A KUBE-EXTERNAL-SERVICES -m tcp -p tcp -d 1.2.3.4 --dport 80 -j DROP
COMMIT
*nat
:KUBE-SERVICES - [0:0]
:KUBE-MARK-MASQ - [0:0]
:SVC - [0:0]
:SEP1 - [0:0]
:SEP2 - [0:0]
-A KUBE-MARK-MASQ -j MARK --or-mark 0x00004000
-A KUBE-SERVICES -m tcp -p tcp -d 172.30.0.1 --dport 80 -j SVC
-A SVC -m tcp -p tcp -d 172.30.0.1 --dport 80 ! -s 10.0.0.0/8 -j KUBE-MARK-MASQ
-A SVC -m statistic --mode random --probability 0.5000000000 -j SEP1
-A SVC -j SEP2
-A SEP1 -s 10.1.0.1 -j KUBE-MARK-MASQ
-A SEP1 -m tcp -p tcp -j DNAT --to-destination 10.1.0.1:80
-A SEP2 -m tcp -p tcp -j DNAT --to-destination 10.1.0.2:80
COMMIT
)")
                  .ok());
  EXPECT_EQ(sim.Trace({"10.0.0.5", "172.30.0.1", 80}).ToString(), "10.1.0.1:80, 10.1.0.2:80");
  EXPECT_EQ(sim.Trace({"203.0.113.1", "172.30.0.1", 80}).ToString(), "10.1.0.1:80, 10.1.0.2:80 (masq)");
  EXPECT_EQ(sim.Trace({"10.1.0.1", "172.30.0.1", 80}).ToString(), "10.1.0.1:80, 10.1.0.2:80 (masq)");
  EXPECT_EQ(sim.Trace({"10.0.0.5", "172.30.0.1", 81}).ToString(), "not intercepted");
  EXPECT_EQ(sim.Trace({"10.0.0.5", "172.30.0.1", 80, Protocol::kUDP}).ToString(), "not intercepted");
  EXPECT_EQ(sim.Trace({"10.0.0.5", "172.30.0.2", 80}).ToString(), "REJECT");
  EXPECT_EQ(sim.Trace({"203.0.113.1", "1.2.3.4", 80}).ToString(), "DROP");
  // KUBE-EXTERNAL-SERVICES is not hooked into OUTPUT: the node's own traffic passes.
  EXPECT_EQ(sim.Trace({"192.168.0.2", "1.2.3.4", 80}).ToString(), "not intercepted");
}

TEST(IptablesSimulatorTest, RejectsUnknownMatches) {
  IptablesSimulator sim({});
  ASSERT_TRUE(sim.Apply("*nat\n:KUBE-SERVICES - [0:0]\n-A KUBE-SERVICES --frobnicate 1 -j ACCEPT\nCOMMIT\n").ok());
  // A rule the simulator cannot read fails the trace instead of being skipped silently.
  EXPECT_EQ(sim.Trace({"10.0.0.5", "172.30.0.1", 80}).ToString(),
            "error: KUBE-SERVICES --frobnicate 1 -j ACCEPT: simulator does not know --frobnicate");
}

}  // namespace
}  // namespace kproxy::proxier::iptables::testing
