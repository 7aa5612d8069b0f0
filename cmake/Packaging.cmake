# Install rules and the .deb (CPack). Included at the end of CMakeLists.txt.
# `cmake --install build --prefix P` installs the binary, its man page (section 8) and bash, zsh
# and fish completion (all rendered by the built binary from its own option tables:
# include/kleak/docs.h), the license,
# the systemd unit and the Kubernetes example. `cd build && cpack` makes kleak_<version>_<arch>.deb.
include(GNUInstallDirs)

set(KLEAK_DOCS ${CMAKE_BINARY_DIR}/docs)
# The built kleak renders them; a cross build (cmake/aarch64-linux-gnu.cmake) runs it under qemu-user.
set(KLEAK_SELF "$<TARGET_FILE:kleak>")
if(CMAKE_CROSSCOMPILING)
  if(NOT CMAKE_CROSSCOMPILING_EMULATOR)
    message(FATAL_ERROR "cross build: the man page needs the built kleak run under qemu-user (tools/install-deps.sh --arm64)")
  endif()
  set(KLEAK_SELF "${CMAKE_CROSSCOMPILING_EMULATOR} $<TARGET_FILE:kleak>")
endif()
file(MAKE_DIRECTORY ${KLEAK_DOCS})
add_custom_command(
  OUTPUT ${KLEAK_DOCS}/kleak.8.gz ${KLEAK_DOCS}/kleak.bash ${KLEAK_DOCS}/_kleak ${KLEAK_DOCS}/kleak.fish
         ${KLEAK_DOCS}/changelog.gz
  COMMAND sh -c "${KLEAK_SELF} help-man > kleak.8 && gzip -9n -c kleak.8 > kleak.8.gz"
  COMMAND sh -c "${KLEAK_SELF} help-bash-completion > kleak.bash"
  COMMAND sh -c "${KLEAK_SELF} help-zsh-completion > _kleak"
  COMMAND sh -c "${KLEAK_SELF} help-fish-completion > kleak.fish"
  COMMAND sh -c "gzip -9n -c ${CMAKE_SOURCE_DIR}/deploy/debian/changelog > changelog.gz"
  WORKING_DIRECTORY ${KLEAK_DOCS}
  DEPENDS kleak ${CMAKE_SOURCE_DIR}/deploy/debian/changelog
  COMMENT "man page and bash, zsh and fish completion from kleak's option tables"
  VERBATIM)
add_custom_target(kleak_docs ALL DEPENDS ${KLEAK_DOCS}/kleak.8.gz ${KLEAK_DOCS}/kleak.bash ${KLEAK_DOCS}/_kleak
                                        ${KLEAK_DOCS}/kleak.fish)

set(KLEAK_DOCDIR ${CMAKE_INSTALL_DATAROOTDIR}/doc/kleak)
install(TARGETS kleak RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR})
install(FILES ${KLEAK_DOCS}/kleak.8.gz DESTINATION ${CMAKE_INSTALL_MANDIR}/man8)
install(FILES ${KLEAK_DOCS}/kleak.bash DESTINATION ${CMAKE_INSTALL_DATAROOTDIR}/bash-completion/completions
        RENAME kleak)
install(FILES ${KLEAK_DOCS}/_kleak DESTINATION ${CMAKE_INSTALL_DATAROOTDIR}/zsh/vendor-completions)
install(FILES ${KLEAK_DOCS}/kleak.fish DESTINATION ${CMAKE_INSTALL_DATAROOTDIR}/fish/vendor_completions.d)
install(FILES ${CMAKE_SOURCE_DIR}/LICENSE ${CMAKE_SOURCE_DIR}/deploy/debian/copyright ${KLEAK_DOCS}/changelog.gz
        DESTINATION ${KLEAK_DOCDIR})
install(FILES ${CMAKE_SOURCE_DIR}/deploy/kubernetes/kleak-daemonset.yaml DESTINATION ${KLEAK_DOCDIR}/examples)
if(KLEAK_STATIC)
  # Static on purpose (one binary for boxes it was not built on): lintian's overrides say so.
  install(FILES ${CMAKE_SOURCE_DIR}/deploy/debian/lintian-overrides.static
          DESTINATION ${CMAKE_INSTALL_DATAROOTDIR}/lintian/overrides RENAME kleak)
endif()
# <prefix>/lib/systemd/system: with the .deb's /usr, the place lintian calls canonical.
install(FILES ${CMAKE_SOURCE_DIR}/deploy/systemd/kleak.service DESTINATION lib/systemd/system)

set(CPACK_GENERATOR DEB)
set(CPACK_PACKAGE_NAME kleak)
set(CPACK_PACKAGE_VERSION ${PROJECT_VERSION})
set(CPACK_PACKAGE_CONTACT "kleak maintainers <kleak@example.org>")
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY "find the kernel call stacks that hold memory (eBPF)")
# The extended description only: CPack puts the summary above it as the synopsis.
set(CPACK_DEBIAN_PACKAGE_DESCRIPTION
    "kleak attaches BPF programs to the kernel's allocation tracepoints, keeps
every allocation made during a window that is not yet freed, and reports
what is still outstanding grouped by kernel call stack, with module names.
It also accounts for every kB of MemTotal from /proc (kleak meminfo) and can
run as a daemon serving Prometheus metrics and pprof profiles.")
set(CPACK_DEBIAN_PACKAGE_SECTION admin)
set(CPACK_DEBIAN_PACKAGE_PRIORITY optional)
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)
# Debian's name for the arch built for, not the host's (`dpkg --print-architecture`, CPack's default).
if(KLEAK_ARCH STREQUAL "aarch64")
  set(CPACK_DEBIAN_PACKAGE_ARCHITECTURE arm64)
else()
  set(CPACK_DEBIAN_PACKAGE_ARCHITECTURE amd64)
endif()
set(CPACK_PACKAGING_INSTALL_PREFIX /usr)
set(CPACK_STRIP_FILES ON)
# A static build (KLEAK_STATIC) needs nothing; a dynamic one gets its Depends from dpkg-shlibdeps.
set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS ON)
set(CPACK_DEBIAN_PACKAGE_CONTROL_STRICT_PERMISSION ON)
set(CPACK_DEBIAN_PACKAGE_GENERATE_SHLIBS OFF)
# Maintainer scripts: dh_installsystemd --no-enable's semantics for kleak.service (daemon-reload,
# restart on upgrade where enabled or running, stop on remove) and /var/lib/kleak, removed on
# purge. CONTROL_STRICT_PERMISSION makes them 0755.
set(CPACK_DEBIAN_PACKAGE_CONTROL_EXTRA
    ${CMAKE_SOURCE_DIR}/deploy/debian/postinst ${CMAKE_SOURCE_DIR}/deploy/debian/prerm
    ${CMAKE_SOURCE_DIR}/deploy/debian/postrm)
include(CPack)

# ---- packaging tests (tests/package/): label package ----------------------------------------
# The .deb and the image are made from the static build (tools/build-static.sh -> build-static/);
# the .deb falls back to this build (dynamic, Depends from dpkg-shlibdeps) where there is none.
if(KLEAK_BUILD_TESTS)
  set(KLEAK_STATIC_BUILD_DIR ${CMAKE_SOURCE_DIR}/build-static
      CACHE PATH "the static build tree the .deb and the container image are made from")
  set(pkgtests ${CMAKE_SOURCE_DIR}/tests/package)
  # The arm64 build (tools/build-static.sh --arch aarch64), made once by tools/test.sh, never here.
  set(KLEAK_STATIC_AARCH64_BUILD_DIR ${CMAKE_SOURCE_DIR}/build-static-aarch64
      CACHE PATH "the static arm64 build tree package.arm64 checks")
  add_test(NAME package.arm64
           COMMAND ${pkgtests}/arm64_test.sh ${KLEAK_STATIC_AARCH64_BUILD_DIR} $<TARGET_FILE:kleak> ${CMAKE_SOURCE_DIR})
  set_tests_properties(package.arm64 PROPERTIES LABELS package TIMEOUT 300 SKIP_RETURN_CODE 77)
  # The image of both arches: one manifest list (deploy/container/build.sh --manifest).
  add_test(NAME package.container_manifest
           COMMAND ${pkgtests}/container_manifest_test.sh ${KLEAK_STATIC_BUILD_DIR}/kleak
                   ${KLEAK_STATIC_AARCH64_BUILD_DIR}/kleak ${CMAKE_SOURCE_DIR})
  set_tests_properties(package.container_manifest PROPERTIES LABELS package TIMEOUT 120 SKIP_RETURN_CODE 77)
  add_test(NAME package.docs
           COMMAND ${pkgtests}/docs_test.sh $<TARGET_FILE:kleak> ${KLEAK_DOCS}/kleak.8.gz ${KLEAK_DOCS}/kleak.bash
                   ${KLEAK_DOCS}/_kleak ${KLEAK_DOCS}/kleak.fish)
  # README.md's and docs/*.md's kleak commands use real subcommands and options; their paths exist.
  add_test(NAME package.doc_commands
           COMMAND ${pkgtests}/doc_commands_test.sh $<TARGET_FILE:kleak> ${CMAKE_SOURCE_DIR})
  add_test(NAME package.capabilities
           COMMAND ${pkgtests}/capabilities_test.sh $<TARGET_FILE:kleak> ${CMAKE_SOURCE_DIR})
  add_test(NAME package.systemd COMMAND ${pkgtests}/systemd_test.sh ${CMAKE_BINARY_DIR})
  add_test(NAME package.deb
           COMMAND ${pkgtests}/deb_test.sh ${KLEAK_STATIC_BUILD_DIR} ${CMAKE_BINARY_DIR} ${CMAKE_BINARY_DIR}/package-cache)
  add_test(NAME package.container
           COMMAND ${pkgtests}/container_test.sh ${KLEAK_STATIC_BUILD_DIR}/kleak $<TARGET_FILE:kleak-planter>
                   ${CMAKE_SOURCE_DIR})
  add_test(NAME package.daemonset
           COMMAND ${pkgtests}/daemonset_test.sh ${KLEAK_STATIC_BUILD_DIR}/kleak ${CMAKE_SOURCE_DIR})
  set_tests_properties(package.daemonset PROPERTIES LABELS "package;integration" RUN_SERIAL TRUE TIMEOUT 300
                       SKIP_RETURN_CODE 77)
  set_tests_properties(package.docs package.doc_commands package.capabilities package.systemd
                       PROPERTIES LABELS package TIMEOUT 120)
  set_tests_properties(package.deb PROPERTIES LABELS package TIMEOUT 600 SKIP_RETURN_CODE 77)
  # The container traces the real kernel: one BPF test at a time.
  set_tests_properties(package.container PROPERTIES LABELS "package;integration" RUN_SERIAL TRUE TIMEOUT 300
                     SKIP_RETURN_CODE 77)
endif()
