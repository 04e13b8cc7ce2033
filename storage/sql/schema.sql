-- actord's schema and data for the seed application: database hello_world
-- with World (10,000 rows), Fortune (TechEmpower's 12 rows) and wallpaper
-- (5,000 rows). Table and column names are exactly those the Tornado peer
-- (tests/bench/peers/tornado_peer.py) reads.
-- Loaded by tests/services.sh into the throwaway MariaDB.
CREATE DATABASE IF NOT EXISTS hello_world;
USE hello_world;
DROP TABLE IF EXISTS World;
CREATE TABLE World (id INT NOT NULL AUTO_INCREMENT PRIMARY KEY, randomNumber INT NOT NULL DEFAULT 0) ENGINE=InnoDB;
DROP TABLE IF EXISTS wallpaper;
CREATE TABLE wallpaper (
  id INT NOT NULL AUTO_INCREMENT PRIMARY KEY,
  title VARCHAR(128) NOT NULL,
  url VARCHAR(255) NOT NULL,
  width INT NOT NULL, height INT NOT NULL,
  tags VARCHAR(255) NOT NULL,
  downloads INT NOT NULL DEFAULT 0,
  created_at DATETIME NOT NULL,
  KEY idx_created (created_at)
) ENGINE=InnoDB;
DROP TABLE IF EXISTS Fortune;
CREATE TABLE Fortune (id INT NOT NULL AUTO_INCREMENT PRIMARY KEY, message VARCHAR(2048) CHARACTER SET utf8mb4 NOT NULL) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;
INSERT INTO Fortune (message) VALUES
 ('fortune: No such file or directory'),
 ('A computer scientist is someone who fixes things that aren''t broken.'),
 ('After enough decimal places, nobody gives a damn.'),
 ('A bad random number generator: 1, 1, 1, 1, 1, 4.33e+67, 1, 1, 1'),
 ('A computer program does what you tell it to do, not what you want it to do.'),
 ('Emacs is a nice operating system, but I prefer UNIX. — Tom Christaensen'),
 ('Any program that runs right is obsolete.'),
 ('A list is only as strong as its weakest link. — Donald Knuth'),
 ('Feature: A bug with seniority.'),
 ('Computers make very fast, very accurate mistakes.'),
 ('<script>alert("This should not be displayed in a browser alert box.");</script>'),
 ('フレームワークのベンチマーク');

-- randomNumber in 1..10000, as TechEmpower's rules require.
INSERT INTO World (randomNumber)
  SELECT 1 + FLOOR(RAND() * 10000) FROM seq_1_to_10000;

-- 5,000 wallpapers, created over the last ~5,000 hours.
INSERT INTO wallpaper (title, url, width, height, tags, downloads, created_at)
  SELECT CONCAT('Wallpaper ', seq),
         CONCAT('https://img.example.com/wallpaper/', seq, '.jpg'),
         ELT(1 + seq % 3, 1920, 2560, 3840),
         ELT(1 + seq % 3, 1080, 1440, 2160),
         ELT(1 + seq % 4, 'nature,landscape', 'city,night', 'abstract', 'space,stars'),
         FLOOR(RAND() * 100000),
         NOW() - INTERVAL seq HOUR
  FROM seq_1_to_5000;

-- TechEmpower's benchmark account, from anywhere on loopback.
CREATE USER IF NOT EXISTS 'benchmarkdbuser'@'127.0.0.1' IDENTIFIED BY 'benchmarkdbpass';
CREATE USER IF NOT EXISTS 'benchmarkdbuser'@'localhost' IDENTIFIED BY 'benchmarkdbpass';
GRANT ALL PRIVILEGES ON hello_world.* TO 'benchmarkdbuser'@'127.0.0.1';
GRANT ALL PRIVILEGES ON hello_world.* TO 'benchmarkdbuser'@'localhost';
FLUSH PRIVILEGES;

-- The `sql` job type's sink (jobs.sql_statement, docs/JOBS.md): one row per
-- job, keyed by the job id, so a job run twice (delivery is at least once)
-- leaves one row.
DROP TABLE IF EXISTS job_results;
CREATE TABLE job_results (
  job_id CHAR(32) NOT NULL PRIMARY KEY,
  note VARCHAR(255) NULL,
  created_at TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3)
) ENGINE=InnoDB;

-- The login demo's users (app/demo.c): PBKDF2-HMAC-SHA256, hex salt and hash.
CREATE TABLE IF NOT EXISTS users (
  id INT NOT NULL AUTO_INCREMENT PRIMARY KEY,
  username VARCHAR(32) NOT NULL,
  salt CHAR(32) NOT NULL,
  hash CHAR(64) NOT NULL,
  iterations INT NOT NULL,
  created_at TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP,
  UNIQUE KEY uk_username (username)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;
