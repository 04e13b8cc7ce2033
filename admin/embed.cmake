# embed.cmake - turn a file into a C array at build time (no xxd needed).
#   cmake -DIN=page.html -DOUT=page.c -DNAME=symbol -P embed.cmake
# defines: const unsigned char symbol[] (NUL-terminated) and
#          const size_t symbol_len (without the NUL).
file(READ "${IN}" hex HEX)
string(LENGTH "${hex}" digits)
math(EXPR len "${digits} / 2")
string(REGEX REPLACE "([0-9a-f][0-9a-f])" "0x\\1," bytes "${hex}")
string(REGEX REPLACE "((0x[0-9a-f][0-9a-f],){16})" "\\1\n\t" bytes "${bytes}")
get_filename_component(src "${IN}" NAME)
file(WRITE "${OUT}.tmp"
"/* Generated from ${src} by embed.cmake at build time: do not edit. */
#include <stddef.h>

extern const unsigned char ${NAME}[];
extern const size_t ${NAME}_len;

const unsigned char ${NAME}[] = {
\t${bytes}0x00
};
const size_t ${NAME}_len = ${len};
")
file(RENAME "${OUT}.tmp" "${OUT}")
