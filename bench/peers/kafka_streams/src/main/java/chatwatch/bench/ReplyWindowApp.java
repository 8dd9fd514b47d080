package chatwatch.bench;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.DeserializationFeature;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.LocalDateTime;
import java.time.OffsetDateTime;
import java.time.ZoneId;
import java.time.format.DateTimeParseException;
import java.util.Comparator;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Properties;
import java.util.UUID;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.atomic.AtomicReference;
import java.util.stream.Stream;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.common.serialization.Serde;
import org.apache.kafka.common.serialization.Serdes;
import org.apache.kafka.common.utils.Bytes;
import org.apache.kafka.streams.KafkaStreams;
import org.apache.kafka.streams.KeyValue;
import org.apache.kafka.streams.StoreQueryParameters;
import org.apache.kafka.streams.StreamsBuilder;
import org.apache.kafka.streams.StreamsConfig;
import org.apache.kafka.streams.Topology;
import org.apache.kafka.streams.errors.StreamsUncaughtExceptionHandler;
import org.apache.kafka.streams.kstream.Consumed;
import org.apache.kafka.streams.kstream.Grouped;
import org.apache.kafka.streams.kstream.Materialized;
import org.apache.kafka.streams.processor.TimestampExtractor;
import org.apache.kafka.streams.processor.api.Processor;
import org.apache.kafka.streams.processor.api.ProcessorContext;
import org.apache.kafka.streams.processor.api.Record;
import org.apache.kafka.streams.state.KeyValueIterator;
import org.apache.kafka.streams.state.KeyValueStore;
import org.apache.kafka.streams.state.QueryableStoreTypes;
import org.apache.kafka.streams.state.ReadOnlyKeyValueStore;
import org.apache.kafka.streams.state.Stores;

/**
 * The bare reply window of {@code bench/peers/window.py} as an idiomatic Kafka Streams app.
 *
 * <pre>
 *   java -jar reply-window.jar --bootstrap HOST:PORT --topic T --events N
 * </pre>
 *
 * <p>The events topic is read with the record key (the conversation) as bytes and the value
 * decoded once by {@link #eventSerde} into an {@link Event} (null for a record that can neither
 * open nor close a wait: other events, other senders, ads, broken lines). Event time is the
 * JSON {@code ts} ({@link EventTime}). A {@link ReplyWindow} processor keeps each
 * conversation's open wait (its start) in the persistent key-value store {@code open-waits}
 * and forwards one outcome per opened or closed wait, keyed by shop-day; {@code groupByKey}
 * repartitions the outcomes by shop-day (Kafka Streams' own repartition topic) and
 * {@code aggregate} keeps {@code [waits, breached, responses]} per shop-day in the store
 * {@code counters}. One stream thread; Kafka Streams' defaults otherwise (RocksDB stores with
 * changelog topics, at-least-once, record caches).
 *
 * <p>The app stops once it has handled {@code --events} records of the events topic and has
 * counted every outcome it forwarded, reads the counters back from the {@code counters} store
 * (interactive query) and prints one JSON line: events, seconds (from the first record
 * handled to the last outcome counted), counters.
 */
public final class ReplyWindowApp {

  static final long WINDOW_MS = 300_000L;
  static final long DAY_MS = 86_400_000L;
  static final long OFFSET_MS = 8 * 3_600_000L;
  static final int OPEN = 1;
  static final int REPLY = 2;
  static final int OPENED = 0;
  static final int IN_TIME = 1;
  static final int LATE = 2;
  static final String OPEN_WAITS = "open-waits";
  static final String COUNTERS = "counters";

  // orjson's strictness: one JSON value per record, nothing after it
  private static final ObjectMapper JSON = new ObjectMapper()
      .enable(DeserializationFeature.FAIL_ON_TRAILING_TOKENS);

  private ReplyWindowApp() {}

  /** A record that opens ({@link #OPEN}) or closes ({@link #REPLY}) a wait. */
  record Event(String shop, long ts, int kind) {}

  /** {@code window.classify}: the event of a record, or null when it changes nothing. */
  static Event classify(byte[] value) {
    if (value == null) {
      return null;
    }
    JsonNode event;
    try {
      event = JSON.readTree(value);
    } catch (IOException e) {
      return null;
    }
    if (event == null || !event.isObject() || !"message".equals(text(event.get("type")))) {
      return null;
    }
    JsonNode shop = event.get("shop_id");
    JsonNode buyer = event.get("buyer_id");
    if (shop == null || buyer == null || !shop.isTextual() || !buyer.isTextual()) {
      return null;
    }
    String sender = text(event.get("sender"));
    int kind;
    if ("buyer".equals(sender)) {
      JsonNode buyerKind = event.get("buyer_kind");
      if (buyerKind != null && !"customer".equals(text(buyerKind))) {
        return null;
      }
      kind = OPEN;
    } else if ("agent".equals(sender)
        || ("bot".equals(sender) && (event.get("platform") == null
            || "pdd".equals(text(event.get("platform")))))) {
      kind = REPLY;
    } else {
      return null;
    }
    Long ts = tsMs(event.get("ts"));
    return ts == null ? null : new Event(shop.textValue(), ts, kind);
  }

  private static String text(JsonNode node) {
    return node != null && node.isTextual() ? node.textValue() : null;
  }

  /** {@code window.ts_ms}: epoch milliseconds from an integer or an RFC 3339 string. */
  static Long tsMs(JsonNode ts) {
    if (ts == null) {
      return null;
    }
    if (ts.isIntegralNumber()) {
      return ts.canConvertToLong() ? ts.longValue() : null;
    }
    if (!ts.isTextual()) {
      return null;
    }
    String s = ts.textValue();
    if (s.length() > 10 && s.charAt(10) == ' ') {  // fromisoformat takes a space for the T
      s = s.substring(0, 10) + 'T' + s.substring(11);
    }
    try {
      return epochMs(OffsetDateTime.parse(s).toInstant());
    } catch (DateTimeParseException e) {
      try {  // no offset: local time, as fromisoformat(...).timestamp() reads it
        return epochMs(LocalDateTime.parse(s).atZone(ZoneId.systemDefault()).toInstant());
      } catch (DateTimeParseException e2) {
        return null;
      }
    }
  }

  private static long epochMs(java.time.Instant t) {
    // round(timestamp * 1000): to the nearest millisecond, half to even
    long ms = Math.floorDiv(t.getEpochSecond() * 1_000_000_000L + t.getNano(), 1_000_000L);
    long rest = Math.floorMod(t.getEpochSecond() * 1_000_000_000L + t.getNano(), 1_000_000L);
    if (rest > 500_000L || (rest == 500_000L && (ms & 1) == 1)) {
      ms += 1;
    }
    return ms;
  }

  /** {@code window.shop_day}: shop and the local (+08:00) day number of a wait's start. */
  static String shopDay(String shop, long startMs) {
    return shop + "|" + Math.floorDiv(startMs + OFFSET_MS, DAY_MS);
  }

  /** Record values decoded into {@link Event}s once, before the timestamp is extracted. */
  static Serde<Event> eventSerde() {
    return Serdes.serdeFrom((topic, event) -> {
      throw new UnsupportedOperationException("events are only read");
    }, (topic, data) -> classify(data));
  }

  /** Event time: the {@code ts} of an event; the record's own time for the rest (ignored). */
  static final class EventTime implements TimestampExtractor {
    @Override
    public long extract(ConsumerRecord<Object, Object> record, long partitionTime) {
      if (record.value() instanceof Event event && event.ts() >= 0) {
        return event.ts();
      }
      return Math.max(record.timestamp(), 0L);
    }
  }

  /** A shop-day's {@code [waits, breached, responses]} as three longs. */
  static Serde<long[]> countsSerde() {
    return Serdes.serdeFrom((topic, counts) -> counts == null ? null
        : ByteBuffer.allocate(24).putLong(counts[0]).putLong(counts[1]).putLong(counts[2])
            .array(), (topic, data) -> {
          if (data == null) {
            return null;
          }
          ByteBuffer b = ByteBuffer.wrap(data);
          return new long[] {b.getLong(), b.getLong(), b.getLong()};
        });
  }

  /** How far the app has got: records handled, outcomes forwarded and counted, wall times. */
  static final class Progress {
    final AtomicLong handled = new AtomicLong();
    final AtomicLong forwarded = new AtomicLong();
    final AtomicLong counted = new AtomicLong();
    volatile long first;
    volatile long last;

    void tick(long records) {
      long now = System.nanoTime();
      if (records > 0 && handled.getAndAdd(records) == 0) {
        first = now;
      }
      last = now;
    }
  }

  /** One conversation's open wait, in the store {@code open-waits}, and what a record does. */
  static final class ReplyWindow implements Processor<Bytes, Event, String, Integer> {
    private final Progress progress;
    private ProcessorContext<String, Integer> context;
    private KeyValueStore<Bytes, Long> openWaits;

    ReplyWindow(Progress progress) {
      this.progress = progress;
    }

    @Override
    public void init(ProcessorContext<String, Integer> context) {
      this.context = context;
      this.openWaits = context.getStateStore(OPEN_WAITS);
    }

    @Override
    public void process(Record<Bytes, Event> record) {
      handle(record);
      // after the outcome is forwarded: once every record is handled, the outcomes are known
      progress.tick(1);
    }

    private void handle(Record<Bytes, Event> record) {
      Event event = record.value();
      if (event == null || record.key() == null) {
        return;
      }
      Long start = openWaits.get(record.key());
      if (event.kind() == OPEN) {
        if (start == null) {
          openWaits.put(record.key(), event.ts());
          forward(record, shopDay(event.shop(), event.ts()), OPENED);
        }
      } else if (start != null) {
        openWaits.delete(record.key());
        forward(record, shopDay(event.shop(), start),
            event.ts() - start > WINDOW_MS ? LATE : IN_TIME);
      }
    }

    private void forward(Record<Bytes, Event> record, String shopDay, int outcome) {
      progress.forwarded.incrementAndGet();
      context.forward(record.withKey(shopDay).withValue(outcome));
    }
  }

  static Topology topology(String topic, Progress progress) {
    StreamsBuilder builder = new StreamsBuilder();
    builder.addStateStore(Stores.keyValueStoreBuilder(
        Stores.persistentKeyValueStore(OPEN_WAITS), Serdes.Bytes(), Serdes.Long()));
    builder.stream(topic, Consumed.with(Serdes.Bytes(), eventSerde())
            .withTimestampExtractor(new EventTime()))
        .process(() -> new ReplyWindow(progress), OPEN_WAITS)
        .groupByKey(Grouped.with("shop-day", Serdes.String(), Serdes.Integer()))
        .aggregate(() -> new long[3], (shopDay, outcome, counts) -> {
          long[] next = counts.clone();
          if (outcome == OPENED) {
            next[0] += 1;
          } else {
            next[2] += 1;
            next[1] += outcome == LATE ? 1 : 0;
          }
          progress.counted.incrementAndGet();
          progress.tick(0);
          return next;
        }, Materialized.<String, long[], KeyValueStore<Bytes, byte[]>>as(COUNTERS)
            .withKeySerde(Serdes.String()).withValueSerde(countsSerde()));
    return builder.build();
  }

  public static void main(String[] argv) throws Exception {
    System.setProperty("org.slf4j.simpleLogger.defaultLogLevel", "warn");
    System.setProperty("org.slf4j.simpleLogger.logFile", "System.err");
    Map<String, String> args = new LinkedHashMap<>();
    for (int i = 0; i + 1 < argv.length; i += 2) {
      args.put(argv[i].replaceFirst("^--", ""), argv[i + 1]);
    }
    for (String required : new String[] {"bootstrap", "topic", "events"}) {
      if (!args.containsKey(required)) {
        System.err.println("usage: --bootstrap HOST:PORT --topic T --events N");
        System.exit(2);
      }
    }
    long events = Long.parseLong(args.get("events"));
    Path stateDir = Files.createTempDirectory("kafka-streams-state-");
    Properties props = new Properties();
    props.put(StreamsConfig.APPLICATION_ID_CONFIG,
        "bench-kafka-streams-" + UUID.randomUUID().toString().substring(0, 8));
    props.put(StreamsConfig.BOOTSTRAP_SERVERS_CONFIG, args.get("bootstrap"));
    props.put(StreamsConfig.NUM_STREAM_THREADS_CONFIG, 1);
    props.put(StreamsConfig.STATE_DIR_CONFIG, stateDir.toString());

    Progress progress = new Progress();
    AtomicReference<Throwable> failed = new AtomicReference<>();
    int code = 0;
    try (KafkaStreams streams = new KafkaStreams(topology(args.get("topic"), progress), props)) {
      streams.setUncaughtExceptionHandler(e -> {
        failed.set(e);
        return StreamsUncaughtExceptionHandler.StreamThreadExceptionResponse.SHUTDOWN_CLIENT;
      });
      streams.start();
      while (failed.get() == null) {
        KafkaStreams.State state = streams.state();
        if (state == KafkaStreams.State.ERROR || state == KafkaStreams.State.NOT_RUNNING) {
          break;
        }
        if (state == KafkaStreams.State.RUNNING && progress.handled.get() >= events
            && progress.counted.get() >= progress.forwarded.get()) {
          break;
        }
        Thread.sleep(20);
      }
      if (failed.get() != null || streams.state() != KafkaStreams.State.RUNNING) {
        System.err.println("kafka streams stopped in state " + streams.state() + ": "
            + failed.get());
        code = 1;
      } else {
        Map<String, long[]> counters = new LinkedHashMap<>();
        ReadOnlyKeyValueStore<String, long[]> store = streams.store(
            StoreQueryParameters.fromNameAndType(COUNTERS, QueryableStoreTypes.keyValueStore()));
        try (KeyValueIterator<String, long[]> all = store.all()) {
          while (all.hasNext()) {
            KeyValue<String, long[]> kv = all.next();
            counters.put(kv.key, kv.value);
          }
        }
        Map<String, Object> out = new LinkedHashMap<>();
        out.put("events", progress.handled.get());
        out.put("expected_events", events);
        out.put("seconds", (progress.last - progress.first) / 1e9);
        out.put("outcomes", progress.forwarded.get());
        out.put("counters", counters);
        System.out.println(json(out));
        System.out.flush();
      }
    } finally {
      deleteTree(stateDir);
    }
    System.exit(code);
  }

  private static String json(Object value) throws JsonProcessingException {
    return JSON.writeValueAsString(value);
  }

  private static void deleteTree(Path root) throws IOException {
    try (Stream<Path> paths = Files.walk(root)) {
      paths.sorted(Comparator.reverseOrder()).forEach(p -> p.toFile().delete());
    }
  }
}
