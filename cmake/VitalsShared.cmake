# libvitals.so: the same objects as the static libvitals (and its
# protobuf messages), linked into one shared library for programs that
# load vitals at run time (the Python package in python/ does, with
# ctypes). SONAME libvitals.so.<major>; only the public API (vt_[a-z]*)
# is exported (cmake/vitals.map). Installed beside libvitals.a and
# exported to the CMake package as vitals::shared.
add_library(vitals_shared SHARED
  $<TARGET_OBJECTS:vitals> $<TARGET_OBJECTS:vitals_proto>)
add_library(vitals::shared ALIAS vitals_shared)
set(VITALS_SHARED_MAP ${CMAKE_CURRENT_SOURCE_DIR}/cmake/vitals.map)
set_target_properties(vitals_shared PROPERTIES
  OUTPUT_NAME vitals
  EXPORT_NAME shared
  VERSION ${PROJECT_VERSION}
  SOVERSION ${PROJECT_VERSION_MAJOR}
  LINK_DEPENDS ${VITALS_SHARED_MAP})
target_link_options(vitals_shared PRIVATE
  -Wl,--version-script=${VITALS_SHARED_MAP} -Wl,--no-undefined)
target_include_directories(vitals_shared
  PUBLIC $<BUILD_INTERFACE:${CMAKE_CURRENT_SOURCE_DIR}/include>
         $<INSTALL_INTERFACE:${CMAKE_INSTALL_INCLUDEDIR}>)
target_link_libraries(vitals_shared
  PRIVATE PkgConfig::HIREDIS PkgConfig::RABBITMQ PkgConfig::SQLITE3
          CURL::libcurl OpenSSL::Crypto PkgConfig::PROTOBUF_C nng::nng
          Threads::Threads m)
install(TARGETS vitals_shared EXPORT vitalsTargets
  LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR}
  INCLUDES DESTINATION ${CMAKE_INSTALL_INCLUDEDIR})

# The Python package (python/vitals) and its tests.
add_subdirectory(python)
