# berth_http_parse: the Range, Content-Range, Accept and query parsers of
# server/http_parse.h. A file of its own (not server/CMakeLists.txt) so that
# unit tests and fuzz targets can build it without the rest of server/:
#   include(${CMAKE_SOURCE_DIR}/server/http_parse.cmake)
# Paths are relative to this file, so it works from any including directory.
if(NOT TARGET berth_http_parse)
  add_library(berth_http_parse STATIC ${CMAKE_CURRENT_LIST_DIR}/http_parse.c)
  target_include_directories(berth_http_parse PUBLIC ${CMAKE_SOURCE_DIR})
  # http_accept_parse names manifest kinds through oci_media_kind; percent
  # escapes are decoded with auth/encoding.c's auth_hex_value
  target_link_libraries(berth_http_parse PUBLIC berth_oci berth_encoding)
endif()
