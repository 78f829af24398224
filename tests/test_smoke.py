from mongo_ai_logs import AgentLogRepository


def test_inserted_event_reads_back(repo: AgentLogRepository) -> None:
    event_id = repo.insert({"type": "message", "role": "user", "content": "hi"})
    stored = repo.get(event_id)
    assert stored is not None
    assert stored["content"] == "hi"
