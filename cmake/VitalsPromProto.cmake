# Prometheus' exposition messages (io.prometheus.client.MetricFamily),
# compiled by protoc-c from the metrics.proto that Debian's
# golang-github-prometheus-client-model-dev ships: found here, never
# copied into the tree. Its import, google/protobuf/timestamp.proto, comes
# from the package's dependency golang-github-golang-protobuf-1-3-dev (or
# libprotobuf-dev) and is staged under the import path protoc expects.
# The generated sources join vitals_proto.
find_path(VITALS_PROM_PROTO_DIR io/prometheus/client/metrics.proto
  PATHS /usr/share/gocode/src/github.com/prometheus/client_model
  NO_DEFAULT_PATH)
if(NOT VITALS_PROM_PROTO_DIR)
  message(FATAL_ERROR "metrics.proto of Prometheus' client_model not found: "
    "install golang-github-prometheus-client-model-dev (scripts/install-deps.sh build)")
endif()
find_file(VITALS_TIMESTAMP_PROTO NAMES timestamp.proto
  PATHS /usr/include/google/protobuf
        /usr/share/gocode/src/github.com/golang/protobuf/ptypes/timestamp
  NO_DEFAULT_PATH)
if(NOT VITALS_TIMESTAMP_PROTO)
  message(FATAL_ERROR "google/protobuf/timestamp.proto not found: install "
    "golang-github-golang-protobuf-1-3-dev or libprotobuf-dev")
endif()

set(VITALS_PROM_OUT ${CMAKE_CURRENT_BINARY_DIR}/promproto)
set(VITALS_WKT_DIR ${CMAKE_CURRENT_BINARY_DIR}/promproto-import)
configure_file(${VITALS_TIMESTAMP_PROTO}
  ${VITALS_WKT_DIR}/google/protobuf/timestamp.proto COPYONLY)
set(VITALS_PROM_SOURCES
  ${VITALS_PROM_OUT}/io/prometheus/client/metrics.pb-c.c
  ${VITALS_PROM_OUT}/google/protobuf/timestamp.pb-c.c)
add_custom_command(
  OUTPUT ${VITALS_PROM_SOURCES}
         ${VITALS_PROM_OUT}/io/prometheus/client/metrics.pb-c.h
         ${VITALS_PROM_OUT}/google/protobuf/timestamp.pb-c.h
  COMMAND ${CMAKE_COMMAND} -E make_directory ${VITALS_PROM_OUT}
  COMMAND ${PROTOC_C} --proto_path=${VITALS_PROM_PROTO_DIR}
          --proto_path=${VITALS_WKT_DIR} --c_out=${VITALS_PROM_OUT}
          io/prometheus/client/metrics.proto google/protobuf/timestamp.proto
  DEPENDS ${VITALS_PROM_PROTO_DIR}/io/prometheus/client/metrics.proto
          ${VITALS_WKT_DIR}/google/protobuf/timestamp.proto
  COMMENT "protoc-c io/prometheus/client/metrics.proto")
target_sources(vitals_proto PRIVATE ${VITALS_PROM_SOURCES})
target_include_directories(vitals_proto PUBLIC
  $<BUILD_INTERFACE:${VITALS_PROM_OUT}>)
