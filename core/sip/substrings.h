/* Whether a text contains any of a set of substrings, ASCII letters matched
 * in either case: the scanner guard asks it of the User-Agent of every
 * message (sip/guard.h). The set is compiled once into an automaton
 * (Aho-Corasick), so a text is read once, one table lookup per byte, however
 * many substrings there are. */
#ifndef SW_SIP_SUBSTRINGS_H
#define SW_SIP_SUBSTRINGS_H

#include <stdbool.h>
#include <stddef.h>

typedef struct sw_substrings sw_substrings_t;

/* The automaton for words[0..n) (empty words are ignored: they would match
 * everything). NULL when out of memory; an empty set (NULL, 0) is valid and
 * matches nothing. */
sw_substrings_t *sw_substrings_new(const char *const *words, size_t n);
void sw_substrings_free(sw_substrings_t *set);

/* True when text[0..len) contains one of the words. */
bool sw_substrings_find(const sw_substrings_t *set, const char *text, size_t len);

#endif
