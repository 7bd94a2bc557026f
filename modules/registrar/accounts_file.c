#include "accounts_file.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#define LINE_MAX_BYTES 4096
#define NAME_MAX_BYTES 128

static char *trim(char *s)
{
    while (*s == ' ' || *s == '\t')
        s++;
    size_t n = strlen(s);
    while (n && (s[n - 1] == ' ' || s[n - 1] == '\t' || s[n - 1] == '\r' || s[n - 1] == '\n'))
        s[--n] = '\0';
    return s;
}

static int valid_name(const char *s)
{
    size_t n = strlen(s);
    return n > 0 && n <= NAME_MAX_BYTES &&
           strspn(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-.+") == n;
}

/* Splits at the next comma (the rest when none); NULL past the end. */
static char *next_field(char **cursor)
{
    char *s = *cursor;
    if (!s)
        return NULL;
    char *comma = strchr(s, ',');
    if (comma) {
        *comma = '\0';
        *cursor = comma + 1;
    } else {
        *cursor = NULL;
    }
    return trim(s);
}

long reg_accounts_load_file(reg_accounts_t *a, const char *path, const char *realm, char *err, size_t errlen)
{
    FILE *f = fopen(path, "r");
    if (!f) {
        snprintf(err, errlen, "%s: cannot open: %s", path, strerror(errno));
        return -1;
    }
    char line[LINE_MAX_BYTES + 2];
    long added = 0;
    int lineno = 0;
    while (fgets(line, sizeof line, f)) {
        lineno++;
        size_t len = strlen(line);
        if (len == sizeof line - 1 && line[len - 1] != '\n') {
            snprintf(err, errlen, "%s:%d: line longer than %d bytes", path, lineno, LINE_MAX_BYTES);
            fclose(f);
            return -1;
        }
        char *cursor = line;
        char *name = next_field(&cursor);
        if (!*name || *name == '#')
            continue;
        char *password = next_field(&cursor), *caller = next_field(&cursor), *ips = next_field(&cursor);
        const char *why = NULL;
        if (cursor)
            why = "too many fields (name,password[,caller_number[,allowed_ips]]; no comma in a password)";
        else if (!valid_name(name))
            why = "bad account name (letters, digits, _ - . + only, at most 128)";
        else if (!password || !*password)
            why = "no password";
        reg_account_t *acc = NULL;
        if (!why && !(acc = reg_accounts_add(a, name, password, realm, caller)))
            why = "account defined twice";
        for (char *tok = ips ? strtok(ips, " \t") : NULL; !why && tok; tok = strtok(NULL, " \t"))
            if (reg_account_allow(acc, tok) != 0)
                why = "allowed_ips: not an IP address or CIDR block";
        if (why) {
            snprintf(err, errlen, "%s:%d: %s", path, lineno, why);
            fclose(f);
            return -1;
        }
        added++;
    }
    int failed = ferror(f);
    fclose(f);
    if (failed) {
        snprintf(err, errlen, "%s: read error", path);
        return -1;
    }
    return added;
}
