"""tools/analysis_tools/hook_share.py on a synthetic training log."""
import os.path as osp

import pytest
from tool_scripts import load_tool

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
hook_share = load_tool('analysis_tools/hook_share.py')

LOG = """\
2026/11/30 12:00:00 - mmengine - INFO - epoch 1 clustering: visible: 5 clusters [extraction 4.0 s, Jaccard + DBSCAN 1.0 s]
2026/11/30 12:00:30 - mmengine - INFO - Epoch(train) [1][40/40]  lr: 3e-4
2026/11/30 12:00:34 - mmengine - INFO - epoch 2 clustering: visible: 5 clusters [extraction 3.0 s, Jaccard + DBSCAN 1.0 s]
2026/11/30 12:00:35 - mmengine - INFO - epoch 2 association: infrared->visible accuracy 0.5 (chance 0.01) [1.0 s]
2026/11/30 12:00:50 - mmengine - INFO - Epoch(train) [2][20/40]  lr: 3e-4
2026/11/30 12:01:10 - mmengine - INFO - Epoch(train) [2][40/40]  lr: 3e-4
"""  # noqa: E501


def test_parse_and_share():
    rows = hook_share.parse(LOG)
    assert len(rows) == 1  # epoch 1 has no logged start
    row = rows[0]
    assert row['epoch'] == 2 and row['wall'] == 40
    assert (row['extraction'], row['clustering'], row['association']) == \
        (3.0, 1.0, 1.0)
    table = hook_share.format_rows(rows)
    assert '| 2 | 40 | 3.0 | 1.0 | 1.0 | 12% |' in table
    assert '| all | 40 |' in table


NEW_LOG = LOG.replace('Jaccard + DBSCAN', 'JaccardDBSCAN').replace(
    '[1.0 s]', '[cmfp 0.4 s, OTAssociator 0.6 s]')


def test_parse_logs_naming_the_components():
    """Logs that name the clusterer and each association component (the
    association seconds are their sum)."""
    assert 'JaccardDBSCAN 1.0 s' in NEW_LOG and 'cmfp 0.4 s' in NEW_LOG
    row, = hook_share.parse(NEW_LOG)
    assert (row['extraction'], row['clustering'], row['association']) == \
        (3.0, 1.0, 1.0)


def test_main_rejects_a_log_without_epochs(tmp_path):
    log = tmp_path / 'x.log'
    log.write_text('nothing\n')
    with pytest.raises(SystemExit, match='no two consecutive epochs'):
        hook_share.main([str(log)])
