# Packaging: `cpack -G DEB` (run in the build directory) makes one Debian
# package, vitals_<version>_<arch>.deb, holding vitalsd and vitalsctl
# (/usr/bin), the libraries, headers, CMake package and vitals.pc for
# building against vitals, the systemd unit (/usr/lib/systemd/system,
# deploy/vitalsd.service), the example config as the conffile
# /etc/vitals/vitalsd.json, and README plus the deploy/ examples
# (Prometheus, Alertmanager, Grafana) under /usr/share/doc/vitals.
# Run-time dependencies come from dpkg-shlibdeps. Build the package from
# a plain (not sanitizer) build with CMAKE_INSTALL_PREFIX=/usr, the
# default here when packaging.

install(FILES deploy/vitalsd.service
  DESTINATION lib/systemd/system)
install(FILES config/vitalsd.json DESTINATION /etc/vitals)
install(FILES README.md DESTINATION ${CMAKE_INSTALL_DOCDIR})
install(DIRECTORY deploy/prometheus deploy/alertmanager deploy/grafana
  DESTINATION ${CMAKE_INSTALL_DOCDIR}/examples)

set(CPACK_PACKAGE_NAME vitals)
set(CPACK_PACKAGE_VENDOR "vitals")
set(CPACK_PACKAGE_CONTACT "vitals maintainers <vitals@localhost>")
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY
  "health checks and metrics: vitalsd daemon, vitalsctl, libvitals")
set(CPACK_PACKAGE_VERSION ${PROJECT_VERSION})
set(CPACK_PACKAGING_INSTALL_PREFIX /usr)
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)
set(CPACK_DEBIAN_PACKAGE_SECTION net)
set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS ON)
set(CPACK_DEBIAN_PACKAGE_HOMEPAGE "file:///usr/share/doc/vitals/README.md")
# /etc/vitals/vitalsd.json is the admin's: dpkg keeps their edits.
file(WRITE ${CMAKE_CURRENT_BINARY_DIR}/debian/conffiles "/etc/vitals/vitalsd.json\n")
set(CPACK_DEBIAN_PACKAGE_CONTROL_EXTRA ${CMAKE_CURRENT_BINARY_DIR}/debian/conffiles)
include(CPack)
