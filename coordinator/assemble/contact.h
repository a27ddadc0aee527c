/* contact.h — the per-shot contact sheet: a PNG grid of up to 12 evenly spaced frames, each
 * composited over a checkerboard (so transparency is visible), labelled with its frame number,
 * under a title line with the shot name, frame count, size and fps. Thumbnails are taken while the
 * shot streams through the encoders (coord_contact_wants/add), so no frame is read twice.
 */
#ifndef COORD_CONTACT_H
#define COORD_CONTACT_H
#include <stddef.h>
#include <stdint.h>

#define COORD_CONTACT_MAX_THUMBS 12
#define COORD_CONTACT_THUMB_BOX  240     /* a thumbnail fits in a 240x240 box, aspect kept */

typedef struct coord_contact coord_contact_t;

int  coord_contact_new(coord_contact_t **out, const char *shot_name, int frames, int w, int h, double fps,
                       char *err, size_t errlen);
/* 1 if shot frame t is one of the sheet's thumbnails. */
int  coord_contact_wants(const coord_contact_t *c, int t);
/* Adds frame t, (h, w, 4) premultiplied, if it is wanted; otherwise does nothing. */
void coord_contact_add(coord_contact_t *c, int t, const uint16_t *premul);
/* Writes the sheet as an 8-bit RGB PNG to path (via "<path>.tmp.<pid>" and rename). */
int  coord_contact_write(const coord_contact_t *c, const char *path, char *err, size_t errlen);
/* Sheet size and its (h, w, 4) premultiplied pixels, for tests. */
void coord_contact_canvas(const coord_contact_t *c, int *w, int *h, const uint16_t **px);
/* Top-left corner of thumbnail slot i and the thumbnail size, for tests. */
void coord_contact_slot(const coord_contact_t *c, int i, int *x, int *y, int *tw, int *th, int *frame);
int  coord_contact_count(const coord_contact_t *c);
void coord_contact_free(coord_contact_t **c);

#endif
