{
  "targets": [
    {
      "target_name": "packet_ring",
      "sources": ["packet_ring.c", "ring_rx.c", "ring_tx.c", "ring_setup.c", "l4_csum.c"],
      "cflags": ["-O2", "-Wall", "-Wextra", "-Wno-unused-parameter", "-Wno-missing-field-initializers"]
    },
    {
      "target_name": "bpf_map",
      "sources": ["bpf_map.c"],
      "cflags": ["-O2", "-Wall", "-Wextra", "-Wno-unused-parameter", "-Wno-missing-field-initializers"]
    }
  ]
}
