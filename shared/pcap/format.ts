/** Constants of the libpcap and pcapng file formats (see the pcap-savefile man page and draft-ietf-opsawg-pcapng). */
export const PCAP_MAGIC_USEC = 0xa1b2c3d4;
export const PCAP_MAGIC_NSEC = 0xa1b23c4d;
export const PCAP_GLOBAL_HEADER_LEN = 24;
export const PCAP_RECORD_HEADER_LEN = 16;

export const PCAPNG_SHB = 0x0a0d0d0a;
export const PCAPNG_BYTE_ORDER_MAGIC = 0x1a2b3c4d;
export const PCAPNG_IDB = 0x00000001;
export const PCAPNG_OPB = 0x00000002; // obsolete Packet Block
export const PCAPNG_SPB = 0x00000003;
export const PCAPNG_EPB = 0x00000006;
export const PCAPNG_OPT_IF_TSRESOL = 9;
export const PCAPNG_OPT_IF_TSOFFSET = 14;

export const LINKTYPE_ETHERNET = 1;

/** Largest record a reader accepts (libpcap's MAXIMUM_SNAPLEN); bigger means a damaged file. */
export const MAX_RECORD_LEN = 262144;
/** Largest pcapng block accepted (a record plus generous room for options). */
export const MAX_BLOCK_LEN = MAX_RECORD_LEN + 65536;

/** Stable codes of file-level problems, reported as `file.error` events. */
export type PcapErrorCode =
  | 'pcap.open_failed'
  | 'pcap.bad_magic'
  | 'pcap.short_header'
  | 'pcap.bad_version'
  | 'pcap.bad_snaplen'
  | 'pcap.record_too_large'
  | 'pcap.truncated_record'
  | 'pcapng.bad_block'
  | 'pcapng.unknown_interface'
  | 'pcap.unsupported_linktype';

export interface PcapError {
  code: PcapErrorCode;
  message: string;
  /** Records successfully read before the problem. */
  packetsRead: number;
  /** File offset where the problem was found. */
  fileOffset: number;
}
