/*
 * QEMU's own KVM counters in query-stats (target vm, provider kvm)
 *
 * Copyright (c) 2026 kvmfork developers
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 *
 * The memslot changeset and dirty harvest code each keep counters of what
 * QEMU did; query-stats and HMP "info stats vm" show them beside the
 * kernel's.
 */

#include "qemu/osdep.h"
#include "system/stats.h"
#include "qapi/visitor.h"
#include "qapi/qapi-visit-common.h"
#include "kvm-qemu-stats.h"

StatsList *kvm_qemu_stats_list(StatsList *list, strList *names,
                               const KVMQemuStatDesc *desc,
                               const uint64_t *values, int n)
{
    int i;

    for (i = n - 1; i >= 0; i--) {
        Stats *st;

        if (!apply_str_list_filter(desc[i].name, names)) {
            continue;
        }
        st = g_new0(Stats, 1);
        st->name = g_strdup(desc[i].name);
        st->value = g_new0(StatsValue, 1);
        st->value->type = QTYPE_QNUM;
        st->value->u.scalar = values[i];
        QAPI_LIST_PREPEND(list, st);
    }
    return list;
}

StatsSchemaValueList *kvm_qemu_stats_schema(StatsSchemaValueList *list,
                                            const KVMQemuStatDesc *desc,
                                            int n)
{
    int i;

    for (i = n - 1; i >= 0; i--) {
        StatsSchemaValue *v = g_new0(StatsSchemaValue, 1);

        v->name = g_strdup(desc[i].name);
        v->type = desc[i].type;
        if (desc[i].ns) {
            v->has_unit = true;
            v->unit = STATS_UNIT_SECONDS;
            v->has_base = true;
            v->base = 10;
            v->exponent = -9;
        }
        QAPI_LIST_PREPEND(list, v);
    }
    return list;
}

static void kvm_qemu_get_on_off_auto(Object *obj, Visitor *v,
                                     const char *name, void *opaque,
                                     Error **errp)
{
    OnOffAuto mode = *(OnOffAuto *)opaque;

    visit_type_OnOffAuto(v, name, &mode, errp);
}

static void kvm_qemu_set_on_off_auto(Object *obj, Visitor *v,
                                     const char *name, void *opaque,
                                     Error **errp)
{
    OnOffAuto mode;

    if (!visit_type_OnOffAuto(v, name, &mode, errp)) {
        return;
    }
    *(OnOffAuto *)opaque = mode;
}

void kvm_qemu_property_add_on_off_auto(ObjectClass *oc, const char *name,
                                       OnOffAuto *var, const char *desc)
{
    object_class_property_add(oc, name, "OnOffAuto",
                              kvm_qemu_get_on_off_auto,
                              kvm_qemu_set_on_off_auto, NULL, var);
    object_class_property_set_description(oc, name, desc);
}
