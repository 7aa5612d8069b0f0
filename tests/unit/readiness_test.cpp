// The readiness messages (kleak/readiness.h), as pure text.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "kleak/readiness.h"

using namespace kleak;

TEST(Readiness, TheReadyLineIsOneJsonLine) {
  std::string l = ready_line({11, "https://[::1]:9464/metrics"}, 42);
  ASSERT_EQ(l.back(), '\n');
  EXPECT_EQ(l.find('\n'), l.size() - 1);
  auto j = nlohmann::json::parse(l);
  EXPECT_EQ(j["ready"], true);
  EXPECT_EQ(j["pid"], 42);
  EXPECT_EQ(j["events"], 11);
  EXPECT_EQ(j["metrics"], "https://[::1]:9464/metrics");
  EXPECT_FALSE(nlohmann::json::parse(ready_line({5, ""}, 1)).contains("metrics"));
}

TEST(Readiness, TheNotifyMessageSaysReadyWithAStatus) {
  EXPECT_EQ(notify_ready_message({11, ""}, 7), "READY=1\nMAINPID=7\nSTATUS=tracing 11 events");
  EXPECT_EQ(notify_ready_message({3, "http://127.0.0.1:1/metrics"}, 7),
            "READY=1\nMAINPID=7\nSTATUS=tracing 3 events, serving http://127.0.0.1:1/metrics");
}

TEST(Readiness, NotifySocketsKleakCannotUseAreNamedNotFatal) {
  EXPECT_EQ(sd_notify_to(nullptr, "READY=1"), "");
  EXPECT_EQ(sd_notify_to("", "READY=1"), "");
  EXPECT_NE(sd_notify_to("vsock:2:1234", "READY=1").find("not a socket path"), std::string::npos);
  EXPECT_NE(sd_notify_to(std::string(200, '/').c_str(), "READY=1").find("not a socket path"), std::string::npos);
  EXPECT_NE(sd_notify_to("/nonexistent/kleak.sock", "READY=1").find("No such file"), std::string::npos);
}
