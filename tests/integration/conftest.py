"""The integration tests run on Apache Kafka, the broker production runs.

``broker`` is the session's ``kafka`` fixture (one KRaft broker, ``tests/conftest.py``): the
same ``.url`` and ``.bootstrap`` as the embedded broker the rest of ``tests/`` uses. The
embedded broker stays covered here by the tests that start their own: ``make run`` end to end
(``test_run.py``), the blank broker restart (``test_faults.py``), the broker process itself
(``test_broker.py``).
"""

from __future__ import annotations

import pytest

from stream.kafka_local import KafkaCluster


@pytest.fixture(scope="session")
def broker(kafka: KafkaCluster) -> KafkaCluster:
    """Apache Kafka for the whole session (started by the first test that asks)."""
    return kafka
