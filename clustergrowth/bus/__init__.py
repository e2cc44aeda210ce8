"""Event-bus port and its adapters (embedded SQLite log, Apache Kafka)."""

from clustergrowth.bus.port import Delivery, EventBus, dlq_topic

__all__ = ["Delivery", "EventBus", "dlq_topic", "open_bus"]


def open_bus(settings: object, client_id: str) -> EventBus:
    """The adapter the settings ask for."""
    from clustergrowth.settings import RuntimeSettings

    assert isinstance(settings, RuntimeSettings)
    if settings.bus == "kafka":
        from clustergrowth.bus.kafka import KafkaBus, security_options

        return KafkaBus(
            settings.kafka_bootstrap,
            client_id=client_id,
            partitions=settings.kafka_partitions,
            replication=settings.kafka_replication,
            security=security_options(settings),
        )
    from clustergrowth.bus.sqlite import SqliteBus

    return SqliteBus(settings.data_dir / "events.sqlite")
