# Project-wide build settings: warnings, sanitizers and the helpers every CMakeLists.txt uses.

add_library(msgflash_options INTERFACE)
target_compile_options(msgflash_options INTERFACE
    -Wall -Wextra -Wpedantic -Wshadow -Wnon-virtual-dtor -Woverloaded-virtual -Wcast-align
    -Wimplicit-fallthrough -Wmissing-declarations)
if(MSGFLASH_WERROR)
    target_compile_options(msgflash_options INTERFACE -Werror)
endif()
# Asio: no deprecated interfaces in new code.
target_compile_definitions(msgflash_options INTERFACE BOOST_ASIO_NO_DEPRECATED)
if(MSGFLASH_SANITIZE)
    target_compile_options(msgflash_options INTERFACE -fsanitize=${MSGFLASH_SANITIZE} -fno-omit-frame-pointer
        -fno-sanitize-recover=all)
    if(MSGFLASH_SANITIZE MATCHES "thread")
        # GCC 12 warns that TSan does not model Asio's atomic_thread_fence; not a finding in our code.
        target_compile_options(msgflash_options INTERFACE -Wno-tsan)
    endif()
    target_link_options(msgflash_options INTERFACE -fsanitize=${MSGFLASH_SANITIZE})
endif()

# msgflash_library(name SOURCES ... DEPS ...): one static library per lib/ folder.
function(msgflash_library name)
    cmake_parse_arguments(arg "" "" "SOURCES;DEPS" ${ARGN})
    add_library(${name} STATIC ${arg_SOURCES})
    target_include_directories(${name} PUBLIC ${PROJECT_SOURCE_DIR}/lib ${PROJECT_BINARY_DIR}/generated)
    target_link_libraries(${name} PUBLIC msgflash_options ${arg_DEPS})
endfunction()

# msgflash_test(name SOURCES ... DEPS ... [LABELS ...] [TIMEOUT s]): one GoogleTest executable, registered
# with CTest. Tests labelled "sanitize" are the ones the asan-ubsan and tsan builds run.
function(msgflash_test name)
    cmake_parse_arguments(arg "" "TIMEOUT" "SOURCES;DEPS;LABELS" ${ARGN})
    add_executable(${name} ${arg_SOURCES})
    target_include_directories(${name} PRIVATE ${PROJECT_SOURCE_DIR})
    target_link_libraries(${name} PRIVATE msgflash_options ${arg_DEPS} GTest::gtest GTest::gtest_main)
    if(NOT arg_TIMEOUT)
        set(arg_TIMEOUT 300)
    endif()
    add_test(NAME ${name} COMMAND ${name} --gtest_brief=1)
    set_tests_properties(${name} PROPERTIES TIMEOUT ${arg_TIMEOUT} LABELS "${arg_LABELS}"
        ENVIRONMENT "MSGFLASH_SOURCE_DIR=${PROJECT_SOURCE_DIR};MSGFLASH_BINARY_DIR=${PROJECT_BINARY_DIR}")
    if("sanitize" IN_LIST arg_LABELS)
        set_property(GLOBAL APPEND PROPERTY MSGFLASH_SANITIZE_TARGETS ${name})
    endif()
endfunction()
