# msgflashd container image: build and test in one stage, run from a small non-root runtime stage.
# The build stage installs through scripts/install-deps, the same script the README uses, so CI exercises it.

FROM debian:bookworm AS build
WORKDIR /src
COPY scripts/install-deps scripts/install-deps
RUN scripts/install-deps
COPY . .
RUN cmake --preset release -DMSGFLASH_BUILD_BENCH=OFF \
 && cmake --build --preset release \
 && ctest --preset release --label-exclude integration \
 && install -D -m 0755 build/release/daemon/msgflashd /out/usr/bin/msgflashd \
 && install -D -m 0755 build/release/daemon/msgflashctl /out/usr/bin/msgflashctl \
 && install -D -m 0644 config/msgflashd.toml /out/etc/msgflashd/msgflashd.toml

FROM debian:bookworm-slim AS runtime
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates tzdata libboost-json1.81.0 \
      libboost-program-options1.81.0 libssl3 libsqlite3-0 libspdlog1.10 libfmt9 libtomlplusplus3 libsystemd0 \
 && rm -rf /var/lib/apt/lists/* \
 && groupadd --system msgflash \
 && useradd --system --gid msgflash --home-dir /var/lib/msgflashd --shell /usr/sbin/nologin msgflashd \
 && install -d -o msgflashd -g msgflash -m 0750 /var/lib/msgflashd \
 && install -d -o msgflashd -g msgflash -m 0755 /var/spool/msgflashd \
 && install -d -o msgflashd -g msgflash -m 2770 /var/spool/msgflashd/incoming \
 && install -d -o msgflashd -g msgflash -m 0750 /var/spool/msgflashd/accepted /var/spool/msgflashd/rejected \
      /var/spool/msgflashd/reports
COPY --from=build /out/ /
USER msgflashd
VOLUME ["/var/spool/msgflashd", "/var/lib/msgflashd"]
ENTRYPOINT ["/usr/bin/msgflashd", "--config", "/etc/msgflashd/msgflashd.toml"]
