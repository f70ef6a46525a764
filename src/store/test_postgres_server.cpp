#include "store/test_postgres_server.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <grp.h>
#include <libpq-fe.h>
#include <netinet/in.h>
#include <pwd.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <fstream>
#include <memory>
#include <sstream>
#include <stdexcept>
#include <thread>
#include <vector>

#ifndef HERALD_STORE_TESTDATA
#error "HERALD_STORE_TESTDATA must name store/testdata"
#endif

namespace herald::store::testing {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;

std::string read_file(const fs::path& p) {
  std::ifstream in(p);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

bool port_free(std::uint16_t port) {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) return false;
  int one = 1;
  ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);  // as postgres binds
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(port);
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  bool ok = ::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0;
  ::close(fd);
  return ok;
}

std::uint16_t pick_port() {
  // A random start keeps parallel test processes apart; bind() checks what is free.
  unsigned seed =
      static_cast<unsigned>(::getpid()) * 7919u +
      static_cast<unsigned>(std::chrono::steady_clock::now().time_since_epoch().count());
  for (int i = 0; i < 1000; ++i) {
    seed = seed * 1103515245u + 12345u;
    auto port = static_cast<std::uint16_t>(20000 + (seed >> 8) % 30000);
    if (port_free(port)) return port;
  }
  throw std::runtime_error("postgres_server: no free loopback port");
}

// $HERALD_PG_BINDIR, else the newest /usr/lib/postgresql/<version>/bin with a postgres binary.
fs::path bindir() {
  if (const char* d = std::getenv("HERALD_PG_BINDIR"); d && *d) return d;
  fs::path best;
  int best_version = -1;
  std::error_code ec;
  for (const auto& e : fs::directory_iterator("/usr/lib/postgresql", ec)) {
    const std::string v = e.path().filename().string();
    if (v.empty() || !std::all_of(v.begin(), v.end(), ::isdigit)) continue;
    if (!fs::exists(e.path() / "bin" / "postgres")) continue;
    if (std::stoi(v) > best_version) {
      best_version = std::stoi(v);
      best = e.path() / "bin";
    }
  }
  if (best.empty()) {
    throw std::runtime_error(
        "postgres_server: no PostgreSQL server found under /usr/lib/postgresql (apt-get install "
        "postgresql, or set HERALD_PG_BINDIR)");
  }
  return best;
}

// fork+exec (not posix_spawn): the child may drop root for `nobody` and gets PR_SET_PDEATHSIG, so
// a test that crashes or is killed takes its server with it. Only async-signal-safe calls after
// fork.
pid_t spawn(const std::vector<std::string>& argv, const std::string& out_file, bool drop, uid_t uid,
            gid_t gid) {
  std::vector<char*> args;
  args.reserve(argv.size() + 1);
  for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  const pid_t parent = ::getpid();
  pid_t pid = ::fork();
  if (pid != 0) return pid;
  int out = ::open(out_file.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
  int in = ::open("/dev/null", O_RDONLY);
  if (out < 0 || in < 0) ::_exit(127);
  ::dup2(in, 0);
  ::dup2(out, 1);
  ::dup2(out, 2);
  if (drop && (::setgroups(0, nullptr) != 0 || ::setgid(gid) != 0 || ::setuid(uid) != 0))
    ::_exit(126);
  // After setuid: a credential change clears the parent-death signal.
  ::prctl(PR_SET_PDEATHSIG, SIGKILL);
  if (::getppid() != parent) ::_exit(127);
  ::execv(args[0], args.data());
  ::_exit(127);
}

struct conn_free {
  void operator()(PGconn* c) const { PQfinish(c); }
};
struct result_free {
  void operator()(PGresult* r) const { PQclear(r); }
};

}  // namespace

fs::path testdata_dir() { return HERALD_STORE_TESTDATA; }

postgres_server::postgres_server(bool load_fixture) {
  char tmpl[] = "/tmp/herald-pg-XXXXXX";
  if (!::mkdtemp(tmpl)) throw std::runtime_error("postgres_server: mkdtemp failed");
  dir_ = tmpl;
  if (::geteuid() == 0) {
    // initdb and postgres refuse root; `nobody` exists on every Debian system.
    const passwd* pw = ::getpwnam("nobody");
    if (pw == nullptr) throw std::runtime_error("postgres_server: running as root and no `nobody`");
    drop_privileges_ = true;
    run_uid_ = pw->pw_uid;
    run_gid_ = pw->pw_gid;
    if (::chown(dir_.c_str(), run_uid_, run_gid_) != 0)
      throw std::runtime_error("postgres_server: cannot hand the temp dir to nobody");
  }
  port_ = pick_port();
  const fs::path pwfile = dir_ / "pwfile";
  std::ofstream(pwfile) << fixture::kSuperuserPassword << "\n";
  if (drop_privileges_ && ::chown(pwfile.c_str(), run_uid_, run_gid_) != 0)
    throw std::runtime_error("postgres_server: cannot chown the password file");

  const fs::path bin = bindir();
  // The bootstrap superuser is prowler_admin, as in the API's docker-compose.yml; TCP logins use
  // SCRAM passwords so Herald's password handling is exercised.
  std::vector<std::string> initdb = {(bin / "initdb").string(),
                                     "-D",
                                     (dir_ / "data").string(),
                                     "-U",
                                     std::string(fixture::kSuperuser),
                                     "--pwfile=" + pwfile.string(),
                                     "--auth-local=trust",
                                     "--auth-host=scram-sha-256",
                                     "-E",
                                     "UTF8",
                                     "--locale=C",
                                     "--no-sync"};
  const std::string initdb_log = (dir_ / "initdb.log").string();
  pid_t pid = spawn(initdb, initdb_log, drop_privileges_, run_uid_, run_gid_);
  int status = -1;
  if (pid > 0) ::waitpid(pid, &status, 0);
  if (pid <= 0 || !WIFEXITED(status) || WEXITSTATUS(status) != 0)
    throw std::runtime_error("postgres_server: initdb failed:\n" + read_file(initdb_log));
  start();

  {
    std::unique_ptr<PGconn, conn_free> admin(PQconnectdb(
        (dsn(fixture::kSuperuser, fixture::kSuperuserPassword) + " dbname=postgres").c_str()));
    if (PQstatus(admin.get()) != CONNECTION_OK)
      throw std::runtime_error(std::string("postgres_server: ") + PQerrorMessage(admin.get()));
    std::unique_ptr<PGresult, result_free> r(
        PQexec(admin.get(), ("CREATE DATABASE " + std::string(fixture::kDatabase)).c_str()));
    if (PQresultStatus(r.get()) != PGRES_COMMAND_OK)
      throw std::runtime_error(std::string("postgres_server: ") + PQerrorMessage(admin.get()));
  }
  if (load_fixture) {
    exec(read_file(testdata_dir() / "prowler_schema.sql"));
    exec(read_file(testdata_dir() / "herald_roles.sql"));
  }
}

postgres_server::~postgres_server() {
  try {
    stop();
  } catch (...) {
  }
  std::error_code ec;
  fs::remove_all(dir_, ec);
}

std::string postgres_server::dsn(std::string_view user, std::string_view password) const {
  return "host=127.0.0.1 port=" + std::to_string(port_) +
         " dbname=" + std::string(fixture::kDatabase) + " user=" + std::string(user) +
         " password=" + std::string(password) + " connect_timeout=10";
}

postgres_options postgres_server::store_options() const {
  postgres_options o;
  o.host = "127.0.0.1";
  o.port = port_;
  o.database = std::string(fixture::kDatabase);
  o.user = std::string(fixture::kApiRole);
  o.password = std::string(fixture::kApiPassword);
  o.admin_user = std::string(fixture::kKeysRole);
  o.admin_password = std::string(fixture::kKeysPassword);
  o.sslmode = "disable";
  o.connect_timeout_ms = 3000;
  o.statement_timeout_ms = 2000;
  o.health_interval_ms = 100;
  return o;
}

void postgres_server::start() {
  if (pid_ > 0) return;
  const std::vector<std::string> argv = {(bindir() / "postgres").string(),
                                         "-D",
                                         (dir_ / "data").string(),
                                         "-p",
                                         std::to_string(port_),
                                         "-k",
                                         dir_.string(),
                                         "-c",
                                         "listen_addresses=127.0.0.1",
                                         "-c",
                                         "fsync=off",
                                         "-c",
                                         "synchronous_commit=off",
                                         "-c",
                                         "full_page_writes=off",
                                         "-c",
                                         "max_connections=200"};
  pid_ = spawn(argv, (dir_ / "postgres.log").string(), drop_privileges_, run_uid_, run_gid_);
  if (pid_ <= 0) throw std::runtime_error("postgres_server: cannot spawn postgres");
  const std::string ping = dsn(fixture::kSuperuser, fixture::kSuperuserPassword);
  const auto deadline = std::chrono::steady_clock::now() + 60s;
  while (PQping(ping.c_str()) != PQPING_OK) {
    int status = 0;
    if (::waitpid(pid_, &status, WNOHANG) == pid_) {
      pid_ = -1;
      throw std::runtime_error("postgres_server: postgres exited:\n" + log());
    }
    if (std::chrono::steady_clock::now() > deadline)
      throw std::runtime_error("postgres_server: postgres did not start:\n" + log());
    std::this_thread::sleep_for(20ms);
  }
}

void postgres_server::stop() {
  if (pid_ <= 0) return;
  ::kill(pid_, SIGINT);  // fast shutdown: roll back, disconnect clients, exit
  const auto deadline = std::chrono::steady_clock::now() + 30s;
  int status = 0;
  while (::waitpid(pid_, &status, WNOHANG) == 0) {
    if (std::chrono::steady_clock::now() > deadline) {
      ::kill(pid_, SIGKILL);
      ::waitpid(pid_, &status, 0);
      break;
    }
    std::this_thread::sleep_for(10ms);
  }
  pid_ = -1;
}

void postgres_server::exec(std::string_view sql) const {
  std::unique_ptr<PGconn, conn_free> c(
      PQconnectdb(dsn(fixture::kSuperuser, fixture::kSuperuserPassword).c_str()));
  if (PQstatus(c.get()) != CONNECTION_OK)
    throw std::runtime_error(std::string("postgres_server::exec: ") + PQerrorMessage(c.get()));
  std::unique_ptr<PGresult, result_free> r(PQexec(c.get(), std::string(sql).c_str()));
  auto st = PQresultStatus(r.get());
  if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK)
    throw std::runtime_error(std::string("postgres_server::exec: ") + PQerrorMessage(c.get()));
}

std::string postgres_server::query_value(std::string_view sql) const {
  std::unique_ptr<PGconn, conn_free> c(
      PQconnectdb(dsn(fixture::kSuperuser, fixture::kSuperuserPassword).c_str()));
  if (PQstatus(c.get()) != CONNECTION_OK)
    throw std::runtime_error(std::string("postgres_server::query_value: ") +
                             PQerrorMessage(c.get()));
  std::unique_ptr<PGresult, result_free> r(PQexec(c.get(), std::string(sql).c_str()));
  if (PQresultStatus(r.get()) != PGRES_TUPLES_OK)
    throw std::runtime_error(std::string("postgres_server::query_value: ") +
                             PQerrorMessage(c.get()));
  if (PQntuples(r.get()) == 0) return {};
  return std::string(PQgetvalue(r.get(), 0, 0), PQgetlength(r.get(), 0, 0));
}

std::string postgres_server::log() const { return read_file(dir_ / "postgres.log"); }

}  // namespace herald::store::testing
