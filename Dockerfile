# syntax=docker/dockerfile:1
# Herald in a container: built on Debian 12 (the platform it is developed and tested on), run as an
# unprivileged user on debian:12-slim with only the runtime libraries.
#
#   docker build --build-arg HERALD_GIT_COMMIT=$(git rev-parse --short=12 HEAD) -t herald .
#   docker run --rm -p 8080:8080 -v $PWD/herald.toml:/etc/herald/herald.toml:ro \
#       -e HERALD_PUBLISHER_KEY=... -e HERALD_JWT_VERIFY_KEY="$(cat public.pem)" herald
#
# The configuration's listeners must bind 0.0.0.0 inside the container (see deploy/compose/); keep
# the internal listener's port unpublished, or reachable only from your services and monitoring.
# Checked statically by test/packaging (stages, user, HEALTHCHECK, copied files, runtime libraries);
# see docs/operations.md ("Containers").

# ---- build ---------------------------------------------------------------------------------------
FROM debian:12-slim AS build
WORKDIR /src
# The build dependencies are scripts/install-deps.sh's list (one list for every build of Herald).
COPY scripts/install-deps.sh scripts/install-deps.sh
RUN scripts/install-deps.sh && rm -rf /var/lib/apt/lists/*
COPY CMakeLists.txt CMakePresets.json ./
COPY cmake cmake
COPY src src
COPY config config
COPY deploy deploy
COPY docs docs
COPY README.md README.md
# No .git in the build context: the commit `herald --version` reports is given here.
ARG HERALD_GIT_COMMIT=unknown
RUN cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
          -DHERALD_BUILD_TESTS=OFF -DHERALD_BUILD_BENCH=OFF \
          -DHERALD_GIT_COMMIT="${HERALD_GIT_COMMIT}" -DCMAKE_INSTALL_PREFIX=/usr \
 && cmake --build build -j "$(nproc)" --target herald \
 && DESTDIR=/out cmake --install build --component server \
 && strip --strip-debug /out/usr/bin/herald

# ---- runtime -------------------------------------------------------------------------------------
FROM debian:12-slim
# Exactly the shared libraries the binary links (test/packaging checks this list against ldd).
RUN apt-get update \
 && apt-get install -y --no-install-recommends \
      ca-certificates \
      libboost-json1.81.0 libboost-url1.81.0 \
      libssl3 libhiredis0.14 libsqlite3-0 libpq5 libnghttp2-14 libsystemd0 \
      libspdlog1.10 libfmt9 libtomlplusplus3 \
 && rm -rf /var/lib/apt/lists/*
RUN groupadd --system --gid 10001 herald \
 && useradd --system --uid 10001 --gid herald --home-dir /var/lib/herald --shell /usr/sbin/nologin herald \
 && install -d -o herald -g herald -m 0750 /var/lib/herald
COPY --from=build /out/usr/bin/herald /usr/bin/herald
COPY --from=build /out/etc/herald/herald.example.toml /etc/herald/herald.example.toml
COPY --from=build /out/usr/share/doc/herald /usr/share/doc/herald
USER herald:herald
WORKDIR /var/lib/herald
EXPOSE 8080 8081
# Ready = the bus is connected and the gateway is not shutting down (GET /readyz on the internal
# listener, asked over loopback by the binary itself: no curl in the image).
HEALTHCHECK --interval=10s --timeout=5s --start-period=10s --retries=3 \
  CMD ["herald", "healthcheck", "--config", "/etc/herald/herald.toml"]
STOPSIGNAL SIGTERM
ENTRYPOINT ["herald"]
CMD ["serve", "--config", "/etc/herald/herald.toml"]
