/* Small helpers shared by the unit tests (header-only: each test is one
 * program built from one .c file). */
#ifndef SW_TEST_UTIL_H
#define SW_TEST_UTIL_H

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Reads a whole file as bytes: returns a malloc'd buffer with a NUL added
 * after the last byte (not counted in *len), or NULL if it cannot be read. */
static inline char *sw_test_read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL)
        return NULL;
    size_t cap = 4096, n = 0;
    char *buf = malloc(cap);
    while (buf != NULL) {
        if (n + 1 >= cap) {
            char *bigger = realloc(buf, cap * 2);
            if (bigger == NULL) {
                free(buf);
                buf = NULL;
                break;
            }
            buf = bigger;
            cap *= 2;
        }
        size_t got = fread(buf + n, 1, cap - n - 1, f);
        n += got;
        if (got == 0) {
            if (ferror(f)) {
                free(buf);
                buf = NULL;
            }
            break;
        }
    }
    fclose(f);
    if (buf == NULL)
        return NULL;
    buf[n] = '\0';
    if (len != NULL)
        *len = n;
    return buf;
}

/* A fresh directory "/tmp/sw-<tag>-XXXXXX" in buf (at least 64 bytes). */
static inline int sw_test_make_dir(char *buf, size_t n, const char *tag)
{
    snprintf(buf, n, "/tmp/sw-%s-XXXXXX", tag);
    return mkdtemp(buf) ? 0 : -1;
}

/* Removes a directory made by sw_test_make_dir and the files in it. */
static inline int sw_test_remove_dir(const char *dir)
{
    DIR *d = opendir(dir);
    if (!d)
        return -1;
    struct dirent *entry;
    while ((entry = readdir(d)) != NULL) {
        if (strcmp(entry->d_name, ".") == 0 || strcmp(entry->d_name, "..") == 0)
            continue;
        char path[512];
        snprintf(path, sizeof path, "%s/%s", dir, entry->d_name);
        unlink(path);
    }
    closedir(d);
    return rmdir(dir);
}
/* An IPv4 socket address from its text (aborts on a bad literal: a test bug). */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
static inline struct sockaddr_storage sw_test_ipv4(const char *ip, uint16_t port)
{
    struct sockaddr_storage ss;
    memset(&ss, 0, sizeof ss);
    struct sockaddr_in *in = (struct sockaddr_in *)&ss;
    in->sin_family = AF_INET;
    in->sin_port = htons(port);
    if (inet_pton(AF_INET, ip, &in->sin_addr) != 1)
        abort();
    return ss;
}

#endif
