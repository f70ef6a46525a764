#include "app/run.hpp"

#include <boost/asio/io_context.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>
#include <chrono>
#include <csignal>

namespace herald::app {

struct stop_signal::impl {
  boost::asio::io_context ioc;
  boost::asio::signal_set signals{ioc, SIGINT, SIGTERM};  // handlers installed here
};

stop_signal::stop_signal(bool reload) : impl_(std::make_unique<impl>()) {
  if (reload) impl_->signals.add(SIGHUP);
}
stop_signal::~stop_signal() = default;

int stop_signal::wait(unsigned max_seconds) {
  auto& ioc = impl_->ioc;
  boost::asio::steady_timer timer(ioc);
  int got = 0;
  impl_->signals.async_wait([&](boost::system::error_code ec, int sig) {
    if (!ec) got = sig;
    timer.cancel();
  });
  if (max_seconds > 0) {
    timer.expires_after(std::chrono::seconds(max_seconds));
    timer.async_wait([&](boost::system::error_code ec) {
      if (!ec) impl_->signals.cancel();
    });
  }
  ioc.restart();
  ioc.run();
  if (got == SIGHUP) return got;  // a reload: the handlers stay for the next wait()
  // The default action again: a second Ctrl-C during the graceful shutdown forces the exit.
  boost::system::error_code ignored;
  impl_->signals.clear(ignored);
  return got;
}

}  // namespace herald::app
