#include "backends/ipvs/ipvs_applier.h"

#include "backends/ipvs/testing/fake_ipvs_client.h"
#include "backends/ipvs/testing/fake_link_manager.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "test/unit/ipvs/ipvs_test_util.h"

namespace kproxy::backends::ipvs {
namespace {

using ::kproxy::proxier::ipvs::IpvsOperation;
using ::kproxy::proxier::ipvs::testing::Dest;
using ::kproxy::proxier::ipvs::testing::Ip;
using ::kproxy::proxier::ipvs::testing::Key;
using Kind = IpvsOperation::Kind;

IpvsOperation Op(Kind kind, absl::string_view vip, int port, absl::string_view rs = "", uint32_t weight = 1) {
  IpvsOperation op;
  op.kind = kind;
  op.server.key = Key(vip, port);
  if (!rs.empty()) op.destination = RealServer{Dest(rs, 8080), weight, 0, 0};
  op.address = Ip(vip);
  return op;
}

class IpvsApplierTest : public ::testing::Test {
 protected:
  void SetUp() override { ASSERT_TRUE(links_.EnsureDummyLink("kube-ipvs0").ok()); }
  testing::FakeIpvsClient ipvs_;
  testing::FakeLinkManager links_;
  IpvsApplier applier_{&ipvs_, &links_, "kube-ipvs0"};
};

TEST_F(IpvsApplierTest, ExecutesOperationsInOrder) {
  ApplyResult r = applier_.Apply({Op(Kind::kBindAddress, "10.96.0.10", 80), Op(Kind::kAddService, "10.96.0.10", 80),
                                  Op(Kind::kAddDestination, "10.96.0.10", 80, "10.0.1.5")});
  EXPECT_EQ(r.applied, 3);
  EXPECT_EQ(r.failed, 0);
  EXPECT_TRUE(ipvs_.table().at(Key("10.96.0.10", 80)).destinations.contains(Dest("10.0.1.5", 8080)));
  EXPECT_TRUE(links_.ListAddresses("kube-ipvs0", proxier::IpFamily::kIPv4)->contains(Ip("10.96.0.10")));
}

TEST_F(IpvsApplierTest, AddOfExistingObjectBecomesEditAndDeleteOfMissingObjectSucceeds) {
  ASSERT_EQ(applier_.Apply({Op(Kind::kAddService, "10.96.0.10", 80),
                            Op(Kind::kAddDestination, "10.96.0.10", 80, "10.0.1.5", 1)}).failed, 0);
  ApplyResult r = applier_.Apply({Op(Kind::kAddService, "10.96.0.10", 80),
                                  Op(Kind::kAddDestination, "10.96.0.10", 80, "10.0.1.5", 0),
                                  Op(Kind::kDeleteDestination, "10.96.0.10", 80, "10.0.9.9"),
                                  Op(Kind::kDeleteService, "10.96.0.99", 80),
                                  Op(Kind::kUnbindAddress, "10.96.0.99", 80)});
  EXPECT_EQ(r.failed, 0) << r.first_error;
  EXPECT_EQ(ipvs_.table().at(Key("10.96.0.10", 80)).destinations.at(Dest("10.0.1.5", 8080)).weight, 0u);
}

TEST_F(IpvsApplierTest, FailureIsCountedNamedAndDoesNotStopTheRest) {
  ApplyResult r = applier_.Apply({Op(Kind::kAddDestination, "10.96.0.77", 53, "10.0.1.5"),
                                  Op(Kind::kAddService, "10.96.0.10", 80)});
  EXPECT_EQ(r.failed, 1);
  EXPECT_EQ(r.applied, 1);
  EXPECT_TRUE(absl::IsNotFound(r.first_error));
  EXPECT_THAT(std::string(r.first_error.message()),
              ::testing::HasSubstr("IPVS_CMD_NEW_DEST 10.96.0.77:53/TCP -> 10.0.1.5:8080"));
  EXPECT_TRUE(ipvs_.table().contains(Key("10.96.0.10", 80)));
}

TEST_F(IpvsApplierTest, TableWritesBetweenAddressOperationsGoAsOneBatchEach) {
  ApplyResult r = applier_.Apply({Op(Kind::kBindAddress, "10.96.0.10", 80), Op(Kind::kAddService, "10.96.0.10", 80),
                                  Op(Kind::kAddDestination, "10.96.0.10", 80, "10.0.1.5"),
                                  Op(Kind::kAddDestination, "10.96.0.10", 80, "10.0.1.6"),
                                  Op(Kind::kBindAddress, "10.96.0.11", 80), Op(Kind::kAddService, "10.96.0.11", 80)});
  EXPECT_EQ(r.applied, 6);
  EXPECT_THAT(ipvs_.batch_sizes(), ::testing::ElementsAre(3u, 1u));
  EXPECT_EQ(ipvs_.table().at(Key("10.96.0.10", 80)).destinations.size(), 2u);
  EXPECT_TRUE(links_.ListAddresses("kube-ipvs0", proxier::IpFamily::kIPv4)->contains(Ip("10.96.0.11")));
}

TEST_F(IpvsApplierTest, AddsThatFoundTheObjectAreRedoneAsEditsInOneMoreBatch) {
  ASSERT_EQ(applier_.Apply({Op(Kind::kAddService, "10.96.0.10", 80),
                            Op(Kind::kAddDestination, "10.96.0.10", 80, "10.0.1.5", 1)}).failed, 0);
  ipvs_.ResetCalls();
  IpvsOperation add_service = Op(Kind::kAddService, "10.96.0.10", 80);
  add_service.server.scheduler = "wrr";
  ApplyResult r = applier_.Apply({add_service, Op(Kind::kAddDestination, "10.96.0.10", 80, "10.0.1.5", 3),
                                  Op(Kind::kAddDestination, "10.96.0.10", 80, "10.0.1.6", 1)});
  EXPECT_EQ(r.failed, 0) << r.first_error;
  EXPECT_EQ(r.applied, 3);
  EXPECT_THAT(ipvs_.batch_sizes(), ::testing::ElementsAre(3u, 2u));
  EXPECT_EQ(ipvs_.table().at(Key("10.96.0.10", 80)).server.scheduler, "wrr");
  EXPECT_EQ(ipvs_.table().at(Key("10.96.0.10", 80)).destinations.at(Dest("10.0.1.5", 8080)).weight, 3u);
}

}  // namespace
}  // namespace kproxy::backends::ipvs
